using Moat.Xmpp.Client;

namespace Moat.Jobs.Manager;

/// <summary>Who may do what through a manager: submitters may submit and see their own jobs; admins see and cancel all.</summary>
public sealed record JobAuthorization(IReadOnlySet<string> Submitters, IReadOnlySet<string> Admins)
{
    public bool CanSubmit(string user) => Submitters.Contains(user) || Admins.Contains(user);

    public bool IsAdmin(string user) => Admins.Contains(user);
}

/// <summary>Settings for a job manager.</summary>
public sealed record JobManagerOptions
{
    public XmppClientOptions Xmpp { get; init; } = XmppClientOptions.Default;

    /// <summary>Stable name of this manager in the store; tasks it had in flight are requeued when it starts again.</summary>
    public string ManagerId { get; init; } = "manager";

    public JobAuthorization Authorization { get; init; } = new(new HashSet<string>(), new HashSet<string>());

    /// <summary>Most tasks sent to one worker in one IQ.</summary>
    public int MaxBatch { get; init; } = 64;

    /// <summary>How often the manager looks for work that another manager's users submitted to the shared store.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Called after each batch's results are stored, with the batch size and the time since it was dispatched (benchmarks, metrics).</summary>
    public Action<int, TimeSpan>? BatchCompleted { get; init; }

    /// <summary>Added to a task's own timeout before the manager gives up on a worker's answer.</summary>
    public TimeSpan AnswerGrace { get; init; } = TimeSpan.FromSeconds(30);
}
