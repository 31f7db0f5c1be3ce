using System.Collections.Concurrent;
using Moat.Host.Runtime;
using Moat.Monitor;
using Moat.Monitor.Sources;

namespace Moat.Honeyfarm.Clones;

/// <summary>
/// The exec monitor (<see cref="ExecMonitor"/>, the same one `moat host` runs) over every container clone of a farm:
/// each program a clone runs is recorded from outside it (proc connector + fanotify on the clone's overlay), with
/// its path, argv, SHA-256 and whether the image has it; a clone's records go to its account when it is retired.
/// When the kernel sources cannot be opened, clones run unwatched and their accounts say why. gVisor clones run on
/// gVisor's kernel, invisible to the host's: their execs come from runsc's trace session instead (the sentry reports
/// each one; <see cref="VerificationStatus.ReportedBySandboxKernel"/>, the host cannot check them), as `moat host`
/// does for its gVisor sandboxes.
/// </summary>
internal sealed class CloneWatch : IAsyncDisposable
{
    private readonly ExecMonitor? _monitor;
    private readonly GvisorTraceSource? _trace;
    private readonly string? _traceConfig;
    private readonly ConcurrentDictionary<string, ConcurrentQueue<ExecRecord>> _records = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _gvisorImages = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _ended = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _reader = Task.CompletedTask;
    private readonly Task _traceReader = Task.CompletedTask;

    private CloneWatch(ExecMonitor? monitor, string? unavailable, string? stateDir)
    {
        _monitor = monitor;
        Unavailable = unavailable;
        if (monitor is not null)
        {
            _reader = Task.Run(ReadAsync);
        }

        if (stateDir is not null)
        {
            try
            {
                var socket = Path.Combine(stateDir, "runsc-trace.sock");
                _trace = GvisorTraceSource.Listen(socket, SandboxOfRunsc);
                // Written once the socket listens: runsc is told to report only while someone hears.
                _traceConfig = PodInitConfigPath(stateDir);
                File.WriteAllText(_traceConfig, GvisorTraceSource.PodInitConfig(socket));
                _traceReader = Task.Run(ReadTraceAsync);
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or UnauthorizedAccessException)
            {
                GvisorUnavailable = $"gVisor trace unavailable: {e.Message}";
            }
        }
    }

    /// <summary>runsc's --pod-init-config for clones of a farm whose state folder is <paramref name="stateDir"/>.</summary>
    public static string PodInitConfigPath(string stateDir) => Path.Combine(stateDir, RunscRuntime.PodInitConfigFile);

    /// <summary>Why gVisor clones' execs are not reported, or null when they are.</summary>
    public string? GvisorUnavailable { get; }

    /// <summary>Why clones are not watched, or null when they are.</summary>
    public string? Unavailable { get; }

    /// <summary>Starts the host kernel's exec monitor and, with <paramref name="stateDir"/>, gVisor's trace listener there.</summary>
    public static CloneWatch Start(string? stateDir = null)
    {
        try
        {
            return new CloneWatch(ExecMonitor.Start(ExecMonitorOptions.Default with { SandboxInfo = id => new SandboxInfo(id, null, "honeyfarm-clone") }), null, stateDir);
        }
        catch (MonitorException e)
        {
            return new CloneWatch(null, $"exec monitor unavailable: {e.Message}", stateDir);
        }
    }

    /// <summary>Starts recording a gVisor clone's execs as its kernel reports them (drift judged by path against its image).</summary>
    public void WatchGvisor(string clone, string image)
    {
        _records[clone] = new ConcurrentQueue<ExecRecord>();
        _ended[clone] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _gvisorImages[clone] = image;
    }

    /// <summary>
    /// Waits (bounded) until a stopped gVisor clone's trace stream has ended and everything it reported is recorded,
    /// so that retirement takes all of it; false when the stream did not end in time (or there was none).
    /// </summary>
    public async Task<bool> GvisorStreamEndedAsync(string clone, TimeSpan timeout)
    {
        if (_trace is null || !_ended.TryGetValue(clone, out var ended))
        {
            return false;
        }

        try
        {
            await ended.Task.WaitAsync(timeout).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>The clone a trace connection belongs to, from the connecting process (host-side `runsc ... run ... ID`), never from its messages.</summary>
    private string? SandboxOfRunsc(int pid) =>
        RunscRuntime.RunIdOf(pid) is { } id && _gvisorImages.ContainsKey(id) ? id : null;

    private async Task ReadTraceAsync()
    {
        try
        {
            await foreach (var e in _trace!.Execs.ReadAllAsync(_stop.Token).ConfigureAwait(false))
            {
                if (e.StreamEnded)
                {
                    if (_ended.TryGetValue(e.SandboxId, out var ended))
                    {
                        ended.TrySetResult();
                    }

                    continue;
                }

                if (!_records.TryGetValue(e.SandboxId, out var q) || !_gvisorImages.TryGetValue(e.SandboxId, out var image))
                {
                    continue;
                }

                // The path comes from the sentry, which is not trusted: only a plain absolute path is looked up.
                bool? drift = e.Path is { } path && path.StartsWith('/') && !path.Split('/').Contains("..") ? !File.Exists(Path.Join(image, path)) : null;
                q.Enqueue(new ExecRecord(e.Time, e.SandboxId, null, "honeyfarm-clone", e.Pid, 0, e.Path, e.Argv, e.Sha256, null, null, null, null,
                    null, null, false, drift, drift == true ? $"{e.Path} is not in the clone's image" : null, VerificationStatus.ReportedBySandboxKernel,
                    "reported by the clone's gVisor kernel (runsc trace); the host cannot verify it"));
            }
        }
        catch (OperationCanceledException)
        {
            // Stopped with the farm.
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
        _gvisorImages.TryRemove(clone, out _);
        _ended.TryRemove(clone, out _);
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
        await _traceReader.ConfigureAwait(false);
        if (_traceConfig is not null)
        {
            File.Delete(_traceConfig);
        }

        if (_trace is not null)
        {
            await _trace.DisposeAsync().ConfigureAwait(false);
        }

        if (_monitor is not null)
        {
            await _monitor.DisposeAsync().ConfigureAwait(false);
        }

        _stop.Dispose();
    }
}
