using System.Collections.Concurrent;
using System.Runtime.Versioning;
using System.Threading.Channels;
using Moat.Monitor.Identify;
using Moat.Monitor.Packages;
using Moat.Monitor.Sources;
using static Moat.Monitor.Interop.Interop;

namespace Moat.Monitor;

/// <summary>
/// Watches every exec in the host's sandboxes from outside them: the proc connector says that a process
/// exec'd (for every process, however short-lived) and fanotify FAN_OPEN_EXEC hands the exact file executed.
/// Records and gaps are published on <see cref="Events"/>.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed partial class ExecMonitor : IAsyncDisposable
{
    private readonly ExecMonitorOptions _options;
    private readonly TimeProvider _time;
    private readonly ProcConnectorSource _proc;
    private readonly FanotifyExecSource _fanotify;
    private readonly FileFingerprinter _fingerprinter = new();
    private readonly Channel<MonitorEvent> _events = Channel.CreateUnbounded<MonitorEvent>(new UnboundedChannelOptions { SingleWriter = true });
    private readonly ConcurrentDictionary<string, WatchedSandbox> _sandboxes = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<(int Pid, string SandboxId)> _seeds = new();

    // st_dev of files on each watched sandbox's overlay → its sandbox: every executed file fanotify captures lives on a
    // watched overlay, so its device names the sandbox even when the process is gone before its cgroup can be read.
    private readonly ConcurrentDictionary<ulong, string> _sandboxOfDevice = new();

    // Only the loop thread touches these.
    private readonly Dictionary<int, string> _sandboxOfPid = [];
    private readonly Dictionary<int, int> _parentOfPid = [];
    private readonly Dictionary<int, ExecFiles> _pendingExecFiles = [];
    private bool _fanotifyLostSinceLastExec;
    private readonly List<ProcEvent> _batch = [];
    private readonly HashSet<int> _superseded = [];
    private readonly HashSet<int> _execSeen = [];

    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private int _disposed;

    private ExecMonitor(ExecMonitorOptions options, TimeProvider time, ProcConnectorSource proc, FanotifyExecSource fanotify)
    {
        _options = options;
        _time = time;
        _proc = proc;
        _fanotify = fanotify;
    }

    /// <summary>Records and gaps, in the order the monitor produced them.</summary>
    public ChannelReader<MonitorEvent> Events => _events.Reader;

    /// <summary>Counts of what the monitor has processed, for benchmarks and health checks.</summary>
    public MonitorCounters Counters { get; } = new();

    /// <summary>Opens both kernel sources (needs root) and starts the event loop on its own thread.</summary>
    public static ExecMonitor Start(ExecMonitorOptions? options = null, TimeProvider? timeProvider = null)
    {
        var monitor = Open(options, timeProvider);
        monitor.StartLoop();
        return monitor;
    }

    /// <summary>
    /// Subscribes to both kernel sources without reading them yet: the kernel queues events meanwhile, which
    /// lets tests make identification happen after a process has exited or deleted its file.
    /// </summary>
    internal static ExecMonitor Open(ExecMonitorOptions? options = null, TimeProvider? timeProvider = null)
    {
        var proc = ProcConnectorSource.Open((options ?? ExecMonitorOptions.Default).ProcConnectorBufferBytes);
        FanotifyExecSource fanotify;
        try
        {
            fanotify = FanotifyExecSource.Open();
        }
        catch
        {
            proc.Dispose();
            throw;
        }

        return new ExecMonitor(options ?? ExecMonitorOptions.Default, timeProvider ?? TimeProvider.System, proc, fanotify);
    }

    internal void StartLoop() => _loop ??= Task.Factory.StartNew(Loop, TaskCreationOptions.LongRunning);

    /// <summary>
    /// Starts capturing executed files for a sandbox. <paramref name="rootPath"/> is its root file system as seen
    /// from the host (its own overlay mount); <paramref name="imageDir"/> is the read-only image it was made from
    /// (the overlay's lower dir), used to tell image programs from drift and to find owning packages.
    /// </summary>
    public void WatchSandbox(string sandboxId, string rootPath, string? imageDir)
    {
        var packages = imageDir is null ? PackageIndex.Empty : PackageIndex.Load(imageDir);
        _fanotify.WatchFileSystem(rootPath);
        var image = imageDir is null ? null : new ImageFiles(imageDir, _fingerprinter);
        if (_sandboxes.TryGetValue(sandboxId, out var previous))
        {
            previous.Image?.Dispose();
        }

        _sandboxes[sandboxId] = new WatchedSandbox(sandboxId, rootPath.TrimEnd('/'), imageDir, packages, image);
        // An overlay whose layers share one file system reports its own device for every file; one whose layers do
        // not reports a device per layer, learnt from the first exec attributed through its cgroup (OnExec).
        if (FileFingerprinter.TryStat(rootPath) is { } root)
        {
            _sandboxOfDevice[root.Device] = sandboxId;
        }

        // Processes already running in the sandbox are found now, so that their children are attributed at fork.
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out int pid) && _options.SandboxOfPid(pid) == sandboxId)
            {
                _seeds.Enqueue((pid, sandboxId));
            }
        }
    }

    /// <summary>Stops capturing files for a sandbox (its execs are still reported, as NotSeenByFanotify).</summary>
    public void UnwatchSandbox(string sandboxId)
    {
        foreach (var (device, id) in _sandboxOfDevice)
        {
            if (id == sandboxId)
            {
                _sandboxOfDevice.TryRemove(device, out _);
            }
        }

        if (_sandboxes.TryRemove(sandboxId, out var sandbox))
        {
            sandbox.Image?.Dispose();
            try
            {
                _fanotify.UnwatchFileSystem(sandbox.RootPath);
            }
            catch (MonitorKernelException)
            {
                // The file system is already unmounted, which removes the mark with it.
            }
        }
    }

    private unsafe void Loop()
    {
        try
        {
            var fds = stackalloc PollFd[2];
            fds[0] = new PollFd { Fd = (int)_proc.Handle.DangerousGetHandle(), Events = POLLIN };
            fds[1] = new PollFd { Fd = (int)_fanotify.Handle.DangerousGetHandle(), Events = POLLIN };
            while (!_stop.IsCancellationRequested)
            {
                fds[0].Revents = 0;
                fds[1].Revents = 0;
                int ready = Poll(fds, 2, 100);
                if (ready <= 0)
                {
                    continue;
                }

                if (fds[1].Revents != 0)
                {
                    DrainFanotify();
                }

                if (fds[0].Revents != 0)
                {
                    ProcessProcBatch();
                }

                if (_options.BatchInterval > TimeSpan.Zero)
                {
                    // Batching, not synchronisation: the kernel queues events meanwhile (16 MB socket buffer). A sleep,
                    // not a wait on the stop handle, which spins before it blocks: on two cores that spinning is CPU
                    // taken from the sandboxes being watched. Stopping is seen at the next turn, BatchInterval later.
                    Thread.Sleep(_options.BatchInterval);
                }
            }

            _events.Writer.TryComplete();
        }
        catch (Exception ex)
        {
            _events.Writer.TryComplete(ex);
        }
    }

    private void ProcessProcBatch()
    {
        while (_seeds.TryDequeue(out var seed))
        {
            _sandboxOfPid.TryAdd(seed.Pid, seed.SandboxId);
        }

        _batch.Clear();
        _proc.Drain(_batch.Add, detail => Publish(new GapRecord(_time.GetUtcNow(), null, "proc-connector", detail)));

        // /proc shows a process's latest exec; an exec followed by another of the same process in this batch
        // must not be described from /proc, so it is marked superseded (walking backwards finds the later ones).
        _superseded.Clear();
        _execSeen.Clear();
        for (int i = _batch.Count - 1; i >= 0; i--)
        {
            var e = _batch[i];
            if (e.Kind == ProcEventKind.Exec)
            {
                if (!_execSeen.Add(e.Tgid))
                {
                    _superseded.Add(i);
                }
            }
            else if (e.Kind == ProcEventKind.Exit && e.Pid == e.Tgid)
            {
                // A pid reused after this exit is a different process; earlier execs are not superseded by it.
                _execSeen.Remove(e.Tgid);
            }
        }

        Counters.ProcEvents += _batch.Count;
        for (int i = 0; i < _batch.Count; i++)
        {
            OnProcEvent(_batch[i], _superseded.Contains(i));
        }
    }

    private void DrainFanotify() => _fanotify.Drain(OnExecFile, detail =>
    {
        _fanotifyLostSinceLastExec = true;
        Publish(new GapRecord(_time.GetUtcNow(), null, "fanotify", detail));
    });

    private void OnExecFile(int pid, Microsoft.Win32.SafeHandles.SafeFileHandle file)
    {
        using (file)
        {
            var print = _fingerprinter.TryFingerprint(file);
            if (print is null)
            {
                return;
            }

            string? path = ReadLink($"/proc/self/fd/{file.DangerousGetHandle()}");
            if (!_pendingExecFiles.TryGetValue(pid, out var files))
            {
                _pendingExecFiles[pid] = files = new ExecFiles();
            }

            files.Add(print, path);
            Counters.ExecFilesCaptured++;
            Counters.FilesHashed = _fingerprinter.Hashed;
        }
    }

    private void OnProcEvent(ProcEvent e, bool superseded)
    {
        switch (e.Kind)
        {
            case ProcEventKind.Fork when e.Pid == e.Tgid:
                // A child inherits its parent's sandbox; remembering it now attributes the child even if it
                // exits before anyone can read its /proc entry. Children of unknown (host) parents are not looked
                // up here: the host forks far more than sandboxes do, and a sandbox's first process is found
                // when it execs (or by the scan in WatchSandbox if it was already running).
                if (_sandboxOfPid.TryGetValue(e.ParentTgid, out string? sandbox))
                {
                    _sandboxOfPid[e.Tgid] = sandbox;
                    _parentOfPid[e.Tgid] = e.ParentTgid;
                }

                break;
            case ProcEventKind.Exec:
                Counters.ExecEvents++;
                // FAN_OPEN_EXEC is queued while the kernel opens the file, before the exec completes and the
                // proc connector reports it, so draining now guarantees this exec's file is already here.
                DrainFanotify();
                OnExec(e.Tgid, superseded);
                break;
            case ProcEventKind.Exit when e.Pid == e.Tgid:
                _sandboxOfPid.Remove(e.Tgid);
                _parentOfPid.Remove(e.Tgid);
                _pendingExecFiles.Remove(e.Tgid);
                break;
            default:
                break;
        }
    }

    private void Publish(MonitorEvent e) => _events.Writer.TryWrite(e);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        _fanotify.Dispose();
        _proc.Dispose();
        _stop.Dispose();
    }

    /// <param name="Image">The image's files by path; touched by the loop thread only.</param>
    private sealed record WatchedSandbox(string Id, string RootPath, string? ImageDir, PackageIndex Packages, ImageFiles? Image);
}

/// <summary>Running totals of the monitor's work (written by the loop thread only).</summary>
public sealed class MonitorCounters
{
    public long ExecEvents { get; internal set; }

    /// <summary>All proc connector events (fork, exec, exit of every host thread and process).</summary>
    public long ProcEvents { get; internal set; }

    public long ExecFilesCaptured { get; internal set; }

    public long Records { get; internal set; }

    /// <summary>Files whose content was read and hashed (cache misses).</summary>
    public long FilesHashed { get; internal set; }
}
