using System.Threading.Channels;
using System.Collections.Concurrent;
using Moat.Host.Sandboxes;
using Moat.Monitor;
using Moat.Monitor.Rules;
using Moat.Monitor.Store;

namespace Moat.Host.Watch;

public sealed partial class WatchService
{
    private readonly ConcurrentDictionary<string, long> _execWatched = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _unobservable = new(StringComparer.Ordinal);
    private long _execRecords;
    private long _runtimeExecs;

    private async Task RunExecAsync(CancellationToken cancellationToken)
    {
        var filter = RuntimeExecFilter.For(_agent.Runtime, _agent.ResolvedInitBinary);
        var rules = RuleSet.Default();
        await using var store = await SqliteMonitorStore.OpenAsync(MonitorDatabase, cancellationToken).ConfigureAwait(false);
        await using var monitor = ExecMonitor.Start(ExecMonitorOptions.Default with { SandboxInfo = Info }, _time);
        WatchLog.ExecStarted(_logger, filter.RuntimeName, filter.RuntimeSha256, MonitorDatabase);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var recorder = RecordAsync(monitor, store, rules, filter, stop.Token);
        var gvisor = GuardTrace(store, rules, stop.Token);
        void OnMounted(Sandbox s, string imageRoot)
        {
            if (s.Tier == RuntimeTier.Container)
            {
                Watch(monitor, s.Id, _sandboxes.RootfsDir(s), imageRoot);
            }
        }

        _sandboxes.RootfsMounted += OnMounted;
        try
        {
            while (!cancellationToken.IsCancellationRequested && !recorder.IsCompleted)
            {
                _directory.Refresh();
                await SyncWatchesAsync(monitor, store, cancellationToken).ConfigureAwait(false);
                await Task.Delay(_options.RefreshInterval, _time, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _sandboxes.RootfsMounted -= OnMounted;
            await stop.CancelAsync().ConfigureAwait(false);
            try
            {
                await recorder.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopped with the agent.
            }

            await gvisor.ConfigureAwait(false);
        }
    }

    /// <summary>gVisor's trace points, beside the host kernel's events; a failure to listen is logged and leaves gVisor
    /// sandboxes unobserved (their inspect and gap records say so), it does not stop the exec monitor.</summary>
    private async Task GuardTrace(IMonitorStore store, RuleSet rules, CancellationToken cancellationToken)
    {
        try
        {
            await RunGvisorTraceAsync(store, rules, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or UnauthorizedAccessException)
        {
            WatchLog.CannotWatch(_logger, "gvisor trace", e.Message);
        }
    }

    private SandboxInfo? Info(string id) =>
        _directory.ById(id) is { } s ? new SandboxInfo(id, s.Sandbox.Spec.Client, s.Sandbox.PoolImage is null ? "sandbox" : "pool") : null;

    /// <summary>Marks the overlay of each newly mounted container-tier sandbox and drops the marks of stopped ones.</summary>
    private async Task SyncWatchesAsync(ExecMonitor monitor, IMonitorStore store, CancellationToken cancellationToken)
    {
        var all = _directory.All;
        foreach (var s in all)
        {
            if (s.Sandbox.Tier != RuntimeTier.Container)
            {
                if (_unobservable.TryAdd(s.Id, SandboxService.ExecMonitoringOf(s.Sandbox.Tier)))
                {
                    // A gap is itself an event: the sandbox's record says the monitor cannot see it, instead of staying empty.
                    await store.AppendAsync(new GapRecord(_time.GetUtcNow(), s.Id, "exec-monitor", _unobservable[s.Id]), cancellationToken).ConfigureAwait(false);
                }

                continue;
            }

            if (s.Mounted && !_execWatched.ContainsKey(s.Id))
            {
                // Normally marked at mount (OnMounted); this catches sandboxes mounted before the agent started.
                Watch(monitor, s.Id, s.Rootfs, s.ImageRootfs);
            }
        }

        foreach (var (id, watchedAt) in _execWatched)
        {
            // A mark made after the sandbox list was read belongs to a (re)start the list does not show yet.
            if (watchedAt < _directory.ReadTicks && _directory.ById(id) is not { Mounted: true })
            {
                monitor.UnwatchSandbox(id);
                _execWatched.TryRemove(id, out _);
            }
        }

        foreach (var id in _unobservable.Keys.Where(id => _directory.ById(id) is null))
        {
            _unobservable.TryRemove(id, out _);
        }
    }

    private bool IsOurs(string id)
    {
        if (_execWatched.ContainsKey(id) || _directory.ById(id) is not null)
        {
            return true;
        }

        _directory.RefreshIfStale();
        return _directory.ById(id) is not null;
    }

    private void Watch(ExecMonitor monitor, string id, string rootfs, string? imageRoot)
    {
        try
        {
            monitor.WatchSandbox(id, rootfs, imageRoot);
        }
        catch (Exception e) when (e is MonitorException or IOException or UnauthorizedAccessException)
        {
            // Its execs are still recorded (the proc connector sees them), as NotSeenByFanotify.
            WatchLog.CannotWatch(_logger, id, e.Message);
        }

        _execWatched[id] = Environment.TickCount64;
    }

    private Task RecordAsync(ExecMonitor monitor, IMonitorStore store, RuleSet rules, RuntimeExecFilter filter, CancellationToken cancellationToken) =>
        WriteInWindowsAsync(monitor.Events, store, (e, batch) => Classify(e, rules, filter, batch), cancellationToken);

    /// <summary>
    /// Writes what arrives on <paramref name="reader"/> to the store, everything that came within RecordWindow of the
    /// first item in one transaction: an exec storm costs a commit (and a wake-up of this task) per window, not per
    /// exec. Records reach the store at most that much later; nothing acts on them sooner anyway (network alerts take
    /// their own path).
    /// </summary>
    private async Task WriteInWindowsAsync<T>(ChannelReader<T> reader, IMonitorStore store, Action<T, List<MonitorEvent>> add, CancellationToken cancellationToken)
    {
        var batch = new List<MonitorEvent>();
        while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            await Task.Delay(RecordWindow, _time, cancellationToken).ConfigureAwait(false);
            batch.Clear();
            while (batch.Count < MaxRecordBatch && reader.TryRead(out var item))
            {
                add(item, batch);
            }

            await store.AppendManyAsync(batch, cancellationToken).ConfigureAwait(false);
        }
    }

    private const int MaxRecordBatch = 4096;

    private static readonly TimeSpan RecordWindow = TimeSpan.FromMilliseconds(50);

    /// <summary>Adds the event (marked when it is the runtime's own exec) and the alerts its rules raise to the batch.</summary>
    private void Classify(MonitorEvent e, RuleSet rules, RuntimeExecFilter filter, List<MonitorEvent> batch)
    {
        // Other agents' sandboxes (tests run several agents on one kernel) are theirs to record.
        if (e.SandboxId is { } id && !IsOurs(id))
        {
            return;
        }

        var record = e;
        if (e is ExecRecord exec)
        {
            if (filter.Classify(exec) is { } why)
            {
                // The runtime's own exec: recorded as such, never alerted.
                record = exec with { Runtime = why };
                Interlocked.Increment(ref _runtimeExecs);
            }
            else
            {
                Interlocked.Increment(ref _execRecords);
            }
        }

        batch.Add(record);
        if (record is ExecRecord { Runtime: null } tenant)
        {
            batch.AddRange(rules.Evaluate(tenant));
        }
    }
}
