using System.Collections.Concurrent;
using Moat.Monitor;

namespace Moat.Honeyfarm.Clones;

/// <summary>
/// The exec monitor (<see cref="ExecMonitor"/>, the same one `moat host` runs) over every container clone of a farm:
/// each program a clone runs is recorded from outside it (proc connector + fanotify on the clone's overlay), with
/// its path, argv, SHA-256 and whether the image has it; a clone's records go to its account when it is retired.
/// When the kernel sources cannot be opened, clones run unwatched and their accounts say why.
/// </summary>
internal sealed class CloneWatch : IAsyncDisposable
{
    private readonly ExecMonitor? _monitor;
    private readonly ConcurrentDictionary<string, ConcurrentQueue<ExecRecord>> _records = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _reader = Task.CompletedTask;

    private CloneWatch(ExecMonitor? monitor, string? unavailable)
    {
        _monitor = monitor;
        Unavailable = unavailable;
        if (monitor is not null)
        {
            _reader = Task.Run(ReadAsync);
        }
    }

    /// <summary>Why clones are not watched, or null when they are.</summary>
    public string? Unavailable { get; }

    public static CloneWatch Start()
    {
        try
        {
            return new CloneWatch(ExecMonitor.Start(ExecMonitorOptions.Default with { SandboxInfo = id => new SandboxInfo(id, null, "honeyfarm-clone") }), null);
        }
        catch (MonitorException e)
        {
            return new CloneWatch(null, $"exec monitor unavailable: {e.Message}");
        }
    }

    /// <summary>Starts recording a clone's execs (its overlay root, its image for drift).</summary>
    public void Watch(string clone, string rootfs, string image)
    {
        if (_monitor is null)
        {
            return;
        }

        _records[clone] = new ConcurrentQueue<ExecRecord>();
        _monitor.WatchSandbox(clone, rootfs, image);
    }

    /// <summary>Stops recording a clone and returns what it ran, in order.</summary>
    public IReadOnlyList<ExecRecord> Take(string clone)
    {
        _monitor?.UnwatchSandbox(clone);
        return _records.TryRemove(clone, out var q) ? [.. q] : [];
    }

    /// <summary>What the clone has run so far (it stays watched).</summary>
    public IReadOnlyList<ExecRecord> Peek(string clone) => _records.TryGetValue(clone, out var q) ? [.. q] : [];

    private async Task ReadAsync()
    {
        try
        {
            await foreach (var e in _monitor!.Events.ReadAllAsync(_stop.Token).ConfigureAwait(false))
            {
                if (e is ExecRecord { SandboxId: { } id } r && _records.TryGetValue(id, out var q))
                {
                    q.Enqueue(r);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopped with the farm.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _reader.ConfigureAwait(false);
        if (_monitor is not null)
        {
            await _monitor.DisposeAsync().ConfigureAwait(false);
        }

        _stop.Dispose();
    }
}
