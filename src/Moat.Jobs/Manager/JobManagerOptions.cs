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

    /// <summary>
    /// Stable name of this manager in the store, unique among the managers sharing it; tasks it had in flight are
    /// requeued when it starts again.
    /// </summary>
    public string ManagerId { get; init; } = "manager";

    public JobAuthorization Authorization { get; init; } = new(new HashSet<string>(), new HashSet<string>());

    /// <summary>Most tasks sent to one worker in one IQ.</summary>
    public int MaxBatch { get; init; } = 64;

    /// <summary>How often the manager looks for work that another manager's users submitted to the shared store.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Called after each batch's results are stored, with the batch size and the time since it was dispatched (benchmarks, metrics).</summary>
    public Action<int, TimeSpan>? BatchCompleted { get; init; }

    /// <summary>
    /// How long this manager's hold on its dispatched tasks lasts without renewal (renewed every third of it): when it
    /// dies, another manager on the same store takes its tasks back after this long. Clocks of the managers' machines
    /// must agree to well within it (NTP).
    /// </summary>
    public TimeSpan Lease { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Added to a task's own timeout before the manager gives up on a worker's answer.</summary>
    public TimeSpan AnswerGrace { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Who may be a worker: bare JIDs (<c>worker@moat.test</c>) and roster groups of the manager's own account
    /// (<c>group:workers</c>). Empty (the default) accepts no worker at all: any account on the server could otherwise
    /// announce itself, receive every task with its command and arguments, and report made-up results.
    /// </summary>
    public IReadOnlyList<string> WorkerAllow { get; init; } = [];

    /// <summary>Most tasks one worker account has in flight, all its resources together, whatever slots it claims.</summary>
    public int MaxWorkerSlots { get; init; } = 256;

    /// <summary>Longest output (in characters) accepted in one task's result; a longer one is refused and the task run again elsewhere.</summary>
    public int MaxResultOutputChars { get; init; } = 64 * 1024;

    /// <summary>Returns one sentence naming what is wrong, or null when the options are acceptable.</summary>
    public string? Validate()
    {
        foreach (var entry in WorkerAllow)
        {
            if (WorkerAllowList.Describe(entry) is { } problem)
            {
                return problem;
            }
        }

        if (Lease < TimeSpan.FromSeconds(1) || Lease > TimeSpan.FromHours(1))
        {
            return $"The lease of {Lease.TotalSeconds} s is out of range: use 1 s to 1 hour.";
        }

        if (string.IsNullOrWhiteSpace(ManagerId) || ManagerId.Length > 256 || ManagerId.Any(char.IsControl))
        {
            return "The manager id is empty, longer than 256 characters or holds control characters: use a short name such as jobs-1.";
        }

        if (MaxWorkerSlots < 1 || MaxWorkerSlots > 4096)
        {
            return $"MaxWorkerSlots {MaxWorkerSlots} is out of range: use 1 to 4096.";
        }

        return MaxResultOutputChars < 1 || MaxResultOutputChars > 512 * 1024
            ? $"MaxResultOutputChars {MaxResultOutputChars} is out of range: use 1 to {512 * 1024}."
            : null;
    }
}
