using System.Globalization;
using System.Text;
using System.Text.Json;
using Moat.Host.Rootfs;
using Moat.Host.Runtime;
using Moat.Linux;
using Moat.Linux.Files;
using Moat.Linux.Mounts;
using Moat.Linux.Namespaces;

namespace Moat.Honeyfarm.Clones;

/// <summary>Clones as real sandboxes: an OCI runtime, a reference image, where clone folders and kept clones live.</summary>
public sealed record ContainerCloneOptions
{
    /// <summary>The reference image's root file system (read-only lower layer of every clone's overlay).</summary>
    public required string ImageRootfs { get; init; }

    /// <summary>Folder for clone overlays (clones/), the runtime's state (runc/) and kept clones (kept/).</summary>
    public required string StateDir { get; init; }

    /// <summary>Moat's sandbox init (compiled from native/moat-init.c), bind-mounted as the clone's PID 1.</summary>
    public required string InitBinary { get; init; }

    /// <summary>
    /// The clones' UDP services (compiled from native/moat-udp.c), bound read-only into each clone; by default the
    /// moat-udp next to <see cref="InitBinary"/>.
    /// </summary>
    public string? UdpBinary { get; init; }

    public string ResolvedUdpBinary => UdpBinary ?? Path.Combine(Path.GetDirectoryName(InitBinary) ?? ".", "moat-udp");

    /// <summary>
    /// "runc", or "runsc" for gVisor (the untrusted tier): the clone's programs run on gVisor's own kernel (ptrace
    /// platform) with the clone's namespace as its network (runsc --network=host, so the address given at the claim
    /// is seen). The host kernel cannot see a gVisor clone's execs or its processes; its file changes are read all
    /// the same.
    /// </summary>
    public string Runtime { get; init; } = "runc";

    public bool IsGvisor => Runtime == "runsc";

    public long MemoryBytes { get; init; } = 64L << 20;

    public double Cpus { get; init; } = 0.5;

    /// <summary>Processes in a clone (runc; a gVisor clone gets at least 1,024, its ptrace platform's own threads counted).</summary>
    public int Pids { get; init; } = 64;

    /// <summary>
    /// Size of the tmpfs holding a clone's writable layer: a clone that fills its disk fills only this (its writes
    /// are memory, charged to its own memory cgroup), never the host's file system.
    /// </summary>
    public long DiskBytes { get; init; } = 64L << 20;

    /// <summary>How long a new clone may take until every TCP service listens.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(20);

    public string KeptDir => Path.Combine(StateDir, "kept");

    public void Validate()
    {
        if (!Directory.Exists(ImageRootfs) || !File.Exists(Path.Combine(ImageRootfs, "bin", "sh")))
        {
            throw new ArgumentException($"Reference image '{ImageRootfs}' is not a root file system with /bin/sh; build one with `moat image build busybox` and name it.");
        }

        if (Runtime is not ("runc" or "crun" or "runsc"))
        {
            throw new ArgumentException($"Clone runtime '{Runtime}' is not runc, crun or runsc (gVisor).");
        }

        if (!File.Exists(InitBinary))
        {
            throw new ArgumentException($"Sandbox init '{InitBinary}' does not exist; rebuild Moat (it is compiled from native/moat-init.c by gcc).");
        }

        if (!File.Exists(ResolvedUdpBinary))
        {
            throw new ArgumentException($"The clones' UDP services '{ResolvedUdpBinary}' do not exist; rebuild Moat (they are compiled from native/moat-udp.c by gcc).");
        }
    }
}

/// <summary>
/// A clone's services as a real sandbox: an OCI container (runc) in the clone's namespace, its root an overlay over
/// the reference image, with the clone's own /etc/hostname, /etc/machine-id and host name, running the
/// personality's services as ordinary programs of the image (busybox httpd for port 80; for other TCP ports a
/// listener that greets with the banner and the clone's description, then hands the caller a shell: a
/// high-interaction honeypot, contained by the gateway). Its state is read at retirement against the state it had
/// when it became ready: files added, modified or deleted in the overlay's upper layer, processes left running.
/// </summary>
internal sealed class ContainerServices : ICloneServices
{
    /// <summary>Moat's own files in a clone; they are the clone's setup, never its tenants' changes.</summary>
    internal const string SetupDir = "/.honeyfarm";

    /// <summary>Where a clone sees moat-udp: its UDP services, and a tool to send a datagram (`moat-udp send ADDR PORT`).</summary>
    internal const string UdpServices = SetupDir + "/moat-udp";
    private static readonly string[] SetupFiles = ["/etc/hostname", "/etc/machine-id", "/etc/resolv.conf", SetupDir, "/.moat"];

    private readonly ContainerCloneOptions _options;
    private readonly IOciRuntime _runtime;
    private readonly CloneWatch? _watch;
    private readonly string _name;
    private readonly string _folder;
    private readonly CloneIdentity _identity;
    private HashSet<FileChange> _baseline = [];
    private HashSet<int> _baselineProcesses = [];
    private int _baselineExecs;
    private int _retired;

    private ContainerServices(ContainerCloneOptions options, IOciRuntime runtime, string name, CloneIdentity identity, CloneWatch? watch = null)
    {
        _options = options;
        _runtime = runtime;
        _watch = watch;
        _name = name;
        _identity = identity;
        _folder = Path.Combine(options.StateDir, "clones", name);
    }

    public string Kind => _options.IsGvisor ? "gVisor sandbox (runsc)" : $"{_options.Runtime} container";

    public long Contacts => -1;

    private string Upper => Path.Combine(_folder, "upper");

    private string Rootfs => Path.Combine(_folder, "rootfs");

    private string CgroupPath => "/moat/" + _name;

    private static IOciRuntime RuntimeOf(ContainerCloneOptions options) => options.IsGvisor
        ? new RunscRuntime(Path.Combine(options.StateDir, "runsc"), id => Path.Combine(NetworkNamespace.RunDirectory, id), podInitConfig: CloneWatch.PodInitConfigPath(options.StateDir), hostNetwork: true)
        : new RuncRuntime(Path.Combine(options.StateDir, "runc"), options.Runtime);

    /// <summary>Starts clones as containers; <paramref name="watch"/> (optional) records what each one runs.</summary>
    public static CloneServicesFactory Factory(ContainerCloneOptions options, CloneWatch? watch = null)
    {
        options.Validate();
        var runtime = RuntimeOf(options);
        return async (ns, name, personality, identity, describe, cancellationToken) =>
        {
            var services = new ContainerServices(options, runtime, name, identity, watch);
            try
            {
                await services.StartAsync(ns, personality, describe(), cancellationToken).ConfigureAwait(false);
                return services;
            }
            catch
            {
                await services.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        };
    }

    /// <summary>
    /// Retires the clones a previous gateway on this state folder left behind (it stopped without retiring them:
    /// killed, or the machine lost power): each one's container and mounts go, and one whose files differ from the
    /// image is kept as at a normal retirement. Its ready-time state is lost with the old gateway, so its changes are
    /// read against the image (Moat's setup files left out) and its processes are not judged.
    /// </summary>
    public static async Task<IReadOnlyList<KeptClone>> ReclaimAsync(ContainerCloneOptions options, CancellationToken cancellationToken = default)
    {
        var runtime = RuntimeOf(options);
        var folders = Path.Combine(options.StateDir, "clones");
        var names = (Directory.Exists(folders) ? Directory.GetDirectories(folders).Select(Path.GetFileName).OfType<string>() : [])
            .Union((await runtime.ListAsync(cancellationToken).ConfigureAwait(false)).Select(c => c.Id), StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();
        var kept = new List<KeptClone>();
        foreach (var name in names)
        {
            var stale = new ContainerServices(options, runtime, name, new CloneIdentity("", "", 0));
            stale._baselineProcesses = [.. Cgroups.Processes(stale.CgroupPath)];
            string describe;
            try
            {
                describe = File.ReadAllText(stale.Upper + SetupDir + "/describe").Trim();
            }
            catch (IOException)
            {
                describe = "(description lost)";
            }

            try
            {
                if (await stale.RetireAsync(describe + " (recovered: its gateway stopped without retiring it)", attemptedOutbound: false, cancellationToken).ConfigureAwait(false) is { } k)
                {
                    kept.Add(k);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or Moat.Host.MoatHostException or LinuxException)
            {
                // Half removed already (its upper layer is gone): nothing to keep; its container and mounts went all the same.
            }

            // Its network namespace (named after it, made by the stopped gateway) goes too; its veth pair goes with it.
            if (NetworkNamespace.Exists(name))
            {
                NetworkNamespace.Delete(name);
            }
        }

        return kept;
    }

    private async Task StartAsync(NetworkNamespace ns, Personality personality, string describe, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(_folder);
        MountTmpfs();
        foreach (var dir in new[] { Upper, Path.Combine(_folder, "work"), Rootfs, Path.Combine(_folder, "bundle") })
        {
            Directory.CreateDirectory(dir);
        }

        await OverlayRootfs.MountAsync(_options.ImageRootfs, Upper, Path.Combine(_folder, "work"), Rootfs, cancellationToken).ConfigureAwait(false);
        if (_options.IsGvisor)
        {
            _watch?.WatchGvisor(_name, _options.ImageRootfs);
        }
        else
        {
            _watch?.Watch(_name, Rootfs, _options.ImageRootfs);
        }

        WriteSetup(personality, describe);
        var config = OciSpecBuilder.Build(new OciSandboxConfig
        {
            RootfsPath = Rootfs,
            Hostname = _identity.HostName,
            NetnsPath = ns.Path,
            CgroupsPath = CgroupPath,
            InitBinary = _options.InitBinary,
            Command = ["/bin/sh", SetupDir + "/services"],
            MemoryBytes = _options.MemoryBytes,
            Cpus = _options.Cpus,
            // gVisor's ptrace platform takes host threads and stub processes of its own for every guest thread: a
            // runc-sized pids limit starves it (its Sentry panics with EAGAIN on clone).
            Pids = _options.IsGvisor ? Math.Max(_options.Pids, 1024) : _options.Pids,
        });
        // The UDP services: one read-only binary shared by every clone, not a copy in each clone's memory-backed upper layer.
        config["mounts"]!.AsArray().Add(new System.Text.Json.Nodes.JsonObject
        {
            ["destination"] = UdpServices,
            ["type"] = "bind",
            ["source"] = _options.ResolvedUdpBinary,
            ["options"] = new System.Text.Json.Nodes.JsonArray("bind", "ro", "nosuid", "nodev"),
        });
        if (_options.IsGvisor)
        {
            // runsc puts a tmpfs of its own kernel on /tmp unless the spec mounts something there; a clone's /tmp is
            // where intruders drop things, so it stays the overlay's (bound in), where retirement reads it.
            Directory.CreateDirectory(Path.Combine(Rootfs, "tmp"));
            config["mounts"]!.AsArray().Add(new System.Text.Json.Nodes.JsonObject
            {
                ["destination"] = "/tmp",
                ["type"] = "bind",
                ["source"] = Path.Combine(Rootfs, "tmp"),
                ["options"] = new System.Text.Json.Nodes.JsonArray("rbind", "rw", "nosuid", "nodev"),
            });
        }

        await File.WriteAllTextAsync(Path.Combine(_folder, "bundle", "config.json"), config.ToJsonString(), cancellationToken).ConfigureAwait(false);
        await _runtime.RunDetachedAsync(_name, Path.Combine(_folder, "bundle"), Path.Combine(_folder, "console.log"), cancellationToken).ConfigureAwait(false);
        await WaitListeningAsync(personality, cancellationToken).ConfigureAwait(false);
        var baseline = TempTar("baseline");
        try
        {
            _baseline = [.. await ChangesAsync(baseline, cancellationToken).ConfigureAwait(false)];
        }
        finally
        {
            File.Delete(baseline);
        }

        _baselineProcesses = [.. Cgroups.Processes(CgroupPath)];
        _baselineExecs = _watch?.Peek(_name).Count ?? 0;
    }

    /// <summary>The clone's folder becomes a tmpfs of <see cref="ContainerCloneOptions.DiskBytes"/>: upper and work layers, bundle, console log.</summary>
    private void MountTmpfs()
    {
        try
        {
            MountTable.MountTmpfs(_folder, _options.DiskBytes);
        }
        catch (LinuxException e)
        {
            throw new HoneyfarmException($"Cannot mount the tmpfs for clone {_name} at {_folder}: {e.Message}", e);
        }
    }

    private async Task RemoveFolderAsync()
    {
        // Mounts can be stacked (runsc's gofer bind-mounts the root onto itself, which propagates to the host's view):
        // each path is unmounted until nothing is mounted there, within a bound.
        foreach (var path in new[] { Rootfs, _folder })
        {
            for (var i = 0; i < 8 && OverlayRootfs.IsMounted(path); i++)
            {
                await OverlayRootfs.UnmountAsync(path, CancellationToken.None).ConfigureAwait(false);
            }
        }

        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    /// <summary>
    /// Writes the clone's identity and services into its root. The reference image is outside input (a personality may
    /// be backed by an imported image): every write goes through <see cref="RootedDirectory"/>, so an image whose
    /// <c>etc</c> or <c>etc/hostname</c> is a symbolic link to a host path makes the clone fail to start instead of
    /// writing on the host.
    /// </summary>
    private void WriteSetup(Personality personality, string describe)
    {
        using var root = RootedDirectory.Open(Rootfs);
        const UnixFileMode File644 = (UnixFileMode)0x1A4, Exec755 = (UnixFileMode)0x1ED;
        ReplaceFile(root, "etc/hostname", _identity.HostName + "\n", File644);
        ReplaceFile(root, "etc/machine-id", _identity.MachineId + "\n", File644);
        // The farm's scrubbed resolver (answered only when the farm allows DNS).
        ReplaceFile(root, "etc/resolv.conf", $"nameserver {Dns.DnsSinkholeAnswer.ResolverAddress}\n", File644);
        var setup = SetupDir.TrimStart('/');
        root.Delete(setup);
        root.CreateDirectory(setup, Exec755);
        root.CreateDirectory(setup + "/www", Exec755);
        ReplaceFile(root, setup + "/describe", describe + "\n", File644);
        ReplaceFile(root, setup + "/banner", personality.Banner + "\n", File644);
        // A TCP caller gets the banner, the clone's description, then a shell reading the connection.
        ReplaceFile(root, setup + "/greet", $"#!/bin/sh\ncat {SetupDir}/banner {SetupDir}/describe\nexec /bin/sh 2>&1\n", Exec755);
        ReplaceFile(root, setup + "/www/index.html", $"<html><body>{_identity.HostName}</body></html>\n", File644);
        // The mount point of the UDP services (bound over it read-only when the clone starts).
        ReplaceFile(root, UdpServices.TrimStart('/'), "", File644);
        var services = new StringBuilder("#!/bin/sh\n");
        if (personality.UdpPorts.Count > 0)
        {
            // DNS, NTP and SNMP answers, port 1434 runs what it receives, other ports echo: never more bytes than came in.
            services.Append(CultureInfo.InvariantCulture, $"{UdpServices} serve {string.Join(' ', personality.UdpPorts)} &\n");
        }

        foreach (var port in personality.TcpPorts)
        {
            services.Append(port == 80
                ? $"httpd -f -p 80 -h {SetupDir}/www &\n"
                : string.Create(CultureInfo.InvariantCulture, $"nc -ll -p {port} -e {SetupDir}/greet &\n"));
        }

        services.Append("wait\n");
        ReplaceFile(root, setup + "/services", services.ToString(), Exec755);
    }

    /// <summary>Replaces whatever the image has at <paramref name="relative"/> (a file, or a link that is not followed) with a new file.</summary>
    private static void ReplaceFile(RootedDirectory root, string relative, string content, UnixFileMode mode)
    {
        root.Delete(relative);
        using var file = root.CreateFile(relative, mode);
        RandomAccess.Write(file, Encoding.UTF8.GetBytes(content), 0);
    }

    /// <summary>A claimed clone must answer its first SYN: wait (bounded) until every TCP port listens in its namespace.</summary>
    private async Task WaitListeningAsync(Personality personality, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.StartTimeout);
        while (true)
        {
            var state = await _runtime.StateAsync(_name, timeout.Token).ConfigureAwait(false);
            if (state is null || state.Status is "stopped")
            {
                throw new HoneyfarmException($"Clone {_name}'s services stopped as they started: {Tail(Path.Combine(_folder, "console.log"))}");
            }

            var listening = ListeningPorts(state.Pid);
            var bound = BoundUdpPorts(state.Pid);
            if (personality.TcpPorts.All(listening.Contains) && personality.UdpPorts.All(bound.Contains))
            {
                return;
            }

            try
            {
                await Task.Delay(10, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new HoneyfarmException($"Clone {_name}'s services did not all listen within {_options.StartTimeout.TotalSeconds:0} s (TCP {string.Join(",", personality.TcpPorts)}, UDP {string.Join(",", personality.UdpPorts)}; listening: TCP {string.Join(",", listening)}, UDP {string.Join(",", BoundUdpPorts(state.Pid))}); its output: {Tail(Path.Combine(_folder, "console.log"))}");
            }
        }
    }

    /// <summary>TCP ports in LISTEN state in the network namespace of a process (/proc/PID/net/tcp and tcp6).</summary>
    private static HashSet<int> ListeningPorts(int pid)
    {
        var ports = new HashSet<int>();
        try
        {
            // busybox listens on the IPv6 wildcard (dual stack) where the namespace has IPv6, on 0.0.0.0 otherwise.
            foreach (var line in File.ReadLines($"/proc/{pid}/net/tcp").Skip(1).Concat(File.Exists($"/proc/{pid}/net/tcp6") ? File.ReadLines($"/proc/{pid}/net/tcp6").Skip(1) : []))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length > 3 && fields[3] == "0A")
                {
                    ports.Add(int.Parse(fields[1].AsSpan(fields[1].IndexOf(':') + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                }
            }
        }
        catch (IOException)
        {
            // The process is gone: nothing listens.
        }

        return ports;
    }

    /// <summary>UDP ports with a socket bound in the network namespace of a process (/proc/PID/net/udp).</summary>
    private static HashSet<int> BoundUdpPorts(int pid)
    {
        var ports = new HashSet<int>();
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/net/udp").Skip(1))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length > 1)
                {
                    ports.Add(int.Parse(fields[1].AsSpan(fields[1].IndexOf(':') + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                }
            }
        }
        catch (IOException)
        {
            // The process is gone: nothing is bound.
        }

        return ports;
    }

    public void Bound(string describe)
    {
        // The clone runs by now: its root is written beneath the root, whatever links its processes made.
        using var root = RootedDirectory.Open(Rootfs);
        ReplaceFile(root, SetupDir.TrimStart('/') + "/describe", describe + "\n", (UnixFileMode)0x1A4);
    }

    public async Task<KeptClone?> RetireAsync(string describe, bool attemptedOutbound, CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _retired, 1) != 0)
        {
            return null;
        }

        // The tar is written outside the clone's tmpfs, which a clone may have filled.
        var tar = TempTar("changes");
        try
        {
            var processes = Cgroups.Processes(CgroupPath).Where(p => !_baselineProcesses.Contains(p)).Select(CommandLine).Where(c => c.Length > 0).ToList();
            var files = (await ChangesAsync(tar, cancellationToken).ConfigureAwait(false)).Where(c => !_baseline.Contains(c) && !IsSetup(c.Path)).ToList();
            if (_options.IsGvisor && _watch is not null)
            {
                // gVisor reports execs on its own schedule: stopping the sandbox ends its trace stream after the last one.
                await _runtime.DeleteAsync(_name, cancellationToken).ConfigureAwait(false);
                await _watch.GvisorStreamEndedAsync(_name, TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }

            var execs = (_watch?.Take(_name) ?? []).Skip(_baselineExecs)
                .Select(r => new CloneExec(r.Time, r.Path, r.Argv, r.Sha256, r.Path is { } path && IsSetup(path) ? false : r.Drift, r.Verification.ToString()))
                .ToList();
            // Changed: files written or deleted, processes its services did not start, a program the image lacks was
            // run, or it started a flow of its own.
            if (files.Count == 0 && processes.Count == 0 && !execs.Any(e => e.Drift == true) && !attemptedOutbound)
            {
                return null;
            }

            // Kept: the upper layer as a tar (every file the tenants wrote, whiteouts for those they deleted), the
            // clone's console output and an account.
            var kept = Path.Combine(_options.KeptDir, _name);
            Directory.CreateDirectory(kept);
            File.Move(tar, Path.Combine(kept, "filesystem-changes.tar"), overwrite: true);
            File.Copy(Path.Combine(_folder, "console.log"), Path.Combine(kept, "console.log"), overwrite: true);
            var report = new KeptClone(_name, describe, kept, DateTimeOffset.UtcNow, files, processes, execs,
                _watch is null ? "not watched (no exec monitor for this farm)"
                    : _options.IsGvisor ? _watch.GvisorUnavailable ?? "a gVisor clone: its execs as its own kernel reported them (runsc trace), unverifiable by the host"
                    : _watch.Unavailable, attemptedOutbound);
            await File.WriteAllTextAsync(Path.Combine(kept, "clone.json"), JsonSerializer.Serialize(report, KeptJson), cancellationToken).ConfigureAwait(false);
            return report;
        }
        finally
        {
            File.Delete(tar);
            await RemoveAsync().ConfigureAwait(false);
        }
    }

    /// <summary>A scratch tar path on the state folder's file system (not the clone's tmpfs).</summary>
    private string TempTar(string what)
    {
        var dir = Path.Combine(_options.StateDir, "tmp");
        Directory.CreateDirectory(dir);
        return Path.Combine(dir, $"{_name}-{what}.tar");
    }

    /// <summary>The container, its mounts and its folder go; safe to repeat.</summary>
    private async Task RemoveAsync()
    {
        _watch?.Take(_name);
        Exception? failed = null;
        try
        {
            await _runtime.DeleteAsync(_name, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            failed = e; // its mounts and folder go all the same
        }

        await RemoveFolderAsync().ConfigureAwait(false);
        if (failed is not null)
        {
            throw new HoneyfarmException($"{_options.Runtime} could not remove clone {_name}: {failed.Message}", failed);
        }
    }

    internal static readonly JsonSerializerOptions KeptJson = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>The upper layer against the image, archived to <paramref name="tar"/>.</summary>
    private async Task<List<FileChange>> ChangesAsync(string tar, CancellationToken cancellationToken)
    {
        File.Delete(tar);
        if (!Directory.Exists(Upper))
        {
            return [];
        }

        await UpperLayer.ArchiveAsync(Upper, tar, cancellationToken).ConfigureAwait(false);
        return await UpperLayer.ChangesAsync(tar, _options.ImageRootfs, cancellationToken).ConfigureAwait(false);
    }

    private static bool IsSetup(string path) => SetupFiles.Any(s => path == s || path.StartsWith(s + "/", StringComparison.Ordinal));

    private static string CommandLine(int pid)
    {
        try
        {
            return string.Join(' ', File.ReadAllText($"/proc/{pid}/cmdline").TrimEnd('\0').Split('\0'));
        }
        catch (IOException)
        {
            return "";
        }
    }

    private static string Tail(string path)
    {
        try
        {
            var text = File.ReadAllText(path).Trim();
            return text.Length > 300 ? text[^300..] : text;
        }
        catch (IOException)
        {
            return "(no output)";
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _retired, 1) == 0)
        {
            await RemoveAsync().ConfigureAwait(false);
        }
    }
}
