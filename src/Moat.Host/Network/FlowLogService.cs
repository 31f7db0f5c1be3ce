using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Moat.Containment.Flows;
using Moat.Containment.Rules;
using Moat.Host.Agent;

namespace Moat.Host.Network;

/// <summary>
/// The agent's flow log (WASCo's "who did it"): every connection of a contained sandbox, allowed (conntrack events)
/// or refused (NFLOG from the sandbox's chain), with its client and the rule that decided, in
/// <c>&lt;state&gt;/flows.db</c>, which <c>moat flows</c> reads. Runs only when containment is on.
/// </summary>
/// <remarks>
/// A flow log that cannot start (another process holds the NFLOG group, the kernel lacks conntrack events) does not
/// stop the agent: it says why in the log and in <c>moat host status</c>, and the rules keep refusing regardless.
/// </remarks>
public sealed partial class FlowLogService(HostAgentOptions agent, FlowAttributionTable attribution, ILogger<FlowLog> flowLogger, ILogger<FlowLogService> logger) : BackgroundService
{
    private volatile string? _failure;
    private volatile FlowLog? _log;

    public static string DatabasePath(HostAgentOptions agent) => Path.Combine(agent.StateDir, "flows.db");

    /// <summary>Every packet a sandbox's rules refused (see <see cref="FlowLog.Refused"/>): the watchers' view of
    /// connections that never reach conntrack.</summary>
    public event Action<RefusedAttempt>? Refused;

    /// <summary>One phrase for `moat host status`.</summary>
    public string Status => _failure is { } failure ? "not running: " + failure
        : _log is { Started.IsCompletedSuccessfully: true } log
            ? Describe(log.Counters)
            : "starting";

    private string Describe(FlowLogCounters counters)
    {
        var drops = counters.QueueDrops == 0 ? ""
            : $", {counters.QueueDrops} events dropped by sandbox: " + string.Join(", ", counters.QueueDropsBySandbox
                .OrderByDescending(d => d.Value).Take(5).Select(d => $"{(d.Key.Length == 0 ? "(none)" : d.Key)} {d.Value}"));
        return $"recording to {DatabasePath(agent)} ({counters.Recorded} flows this run, {counters.KernelOverruns} kernel overruns{drops})";
    }

    /// <summary>A query the egress resolver refused by name, into the flow log (see <see cref="FlowLog.RecordRefusedName"/>).</summary>
    public void RecordRefusedName(Moat.Containment.Resolver.NameRefusal refusal, System.Net.IPAddress resolver)
    {
        ArgumentNullException.ThrowIfNull(refusal);
        _log?.RecordRefusedName(refusal.Time, refusal.SandboxId, refusal.Source, refusal.SourcePort, resolver, refusal.Name);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var options = new FlowLogOptions
        {
            DatabasePath = DatabasePath(agent),
            NetworkNamespacePath = agent.HostNamespace is { } ns ? Path.Combine("/run/netns", ns) : null,
            NflogGroup = ContainmentOptions.Default.LogGroup,
        };
        var log = new FlowLog(options, attribution, flowLogger);
        log.Refused += r => Refused?.Invoke(r);
        _log = log;
        try
        {
            await log.RunAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Database, namespace or kernel subscription: said once, and the agent goes on (see remarks).
            _failure = e.Message;
            LogNotRunning(logger, e.Message);
        }
    }

    [LoggerMessage(EventId = 5300, Level = LogLevel.Error, Message = "Flow log not running: {Reason}. Rules still refuse what they refuse, but connections are not recorded.")]
    private static partial void LogNotRunning(ILogger logger, string reason);
}
