using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Moat.Detect.Detectors;
using Moat.Detect.Response;
using Moat.Host.Agent;
using Moat.Host.Sandboxes;

namespace Moat.Host.Watch;

/// <summary>
/// Watches every sandbox of the host from outside it: the exec monitor (Moat.Monitor) attributes each exec to its
/// sandbox and client and records it with the sandbox image's identity; conntrack events of the host namespace feed
/// one detection engine per sandbox (Moat.Detect), whose alerts the response policy for the sandbox's trust level
/// turns into actions. Records: monitor.db (execs, gaps, exec rule alerts) and watch.db (network alerts, responses).
/// </summary>
public sealed partial class WatchService : BackgroundService
{
    private readonly HostAgentOptions _agent;
    private readonly WatchOptions _options;
    private readonly SandboxService _sandboxes;
    private readonly SandboxDirectory _directory;
    private readonly WatchStore _store;
    private readonly ResponsePolicy _policy;
    private readonly ISandboxQuarantine _quarantine;
    private readonly ISandboxThrottle? _throttle;
    private readonly Network.FlowLogService? _flowLog;
    private readonly TimeProvider _time;
    private readonly ILogger<WatchService> _logger;
    private readonly ConcurrentDictionary<string, DetectionEngine> _engines = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _respondGate = new(1, 1);
    private volatile string? _error;

    public WatchService(
        HostAgentOptions agent,
        SandboxService sandboxes,
        IImageCatalog images,
        ISandboxQuarantine quarantine,
        TimeProvider time,
        ILogger<WatchService> logger,
        IServiceProvider services)
    {
        _agent = agent;
        _options = agent.Watch;
        _sandboxes = sandboxes;
        _directory = new SandboxDirectory(sandboxes, images, time);
        _store = new WatchStore(Path.Combine(agent.StateDir, "watch.db"));
        _policy = _options.LoadPolicy();
        _quarantine = quarantine;
        _throttle = services.GetService(typeof(ISandboxThrottle)) as ISandboxThrottle;
        _flowLog = services.GetService(typeof(Network.FlowLogService)) as Network.FlowLogService;
        _time = time;
        _logger = logger;
    }

    public string MonitorDatabase => Path.Combine(_agent.StateDir, "monitor.db");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.Enabled)
        {
            return;
        }

        // Off the start-up path: the agent answers its API while the kernel sources open.
        await Task.Yield();
        _directory.Refresh();
        await ReapplyAsync(stoppingToken).ConfigureAwait(false);
        await Task.WhenAll(
            Guard("exec monitor", RunExecAsync, stoppingToken),
            Guard("network detection", RunNetworkAsync, stoppingToken),
            Guard("scan throttle", RunThrottleAsync, stoppingToken)).ConfigureAwait(false);
    }

    /// <summary>What the watchers cover right now.</summary>
    public WatchStatus Status() => new(
        _options.Enabled,
        [.. _execWatched.Keys.Order(StringComparer.Ordinal)],
        new SortedDictionary<string, string>(_unobservable, StringComparer.Ordinal),
        Interlocked.Read(ref _execRecords),
        Interlocked.Read(ref _runtimeExecs),
        Interlocked.Read(ref _flowEvents),
        Interlocked.Read(ref _networkAlerts),
        MonitorDatabase,
        _error);

    private async Task Guard(string part, Func<CancellationToken, Task> body, CancellationToken cancellationToken)
    {
        try
        {
            await body(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The agent is stopping.
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A watcher that cannot run must not take the sandboxes down with it; the status and the log say so.
            _error = $"{part}: {e.Message}";
            WatchLog.PartFailed(_logger, part, e.Message);
        }
    }

    public override void Dispose()
    {
        _respondGate.Dispose();
        base.Dispose();
    }
}
