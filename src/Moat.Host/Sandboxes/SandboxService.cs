using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Moat.Containment.Policy;
using Moat.Host.Agent;
using Moat.Host.Network;
using Moat.Host.Rootfs;
using Moat.Host.Runtime;
using Moat.Host.Store;

namespace Moat.Host.Sandboxes;

/// <summary>
/// Creates, runs and removes sandboxes. Every change is journaled in the store before the kernel objects it names are
/// made, and any failure half-way removes what was made, so a sandbox either exists whole or not at all.
/// </summary>
public sealed partial class SandboxService
{
    private readonly HostStore _store;
    private readonly RuntimeRegistry _runtimes;
    private readonly TierPolicy _tiers;
    private readonly ISandboxNetwork _network;
    private readonly IImageCatalog _images;
    private readonly AddressPool _addresses;
    private readonly HostAgentOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly ISandboxContainment _containment;
    private readonly SemaphoreSlim _allocation = new(1, 1);
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _execs = new(StringComparer.OrdinalIgnoreCase);
    private readonly long _hostMemory;

    public SandboxService(
        HostStore store,
        RuntimeRegistry runtimes,
        TierPolicy tiers,
        ISandboxNetwork network,
        IImageCatalog images,
        HostAgentOptions options,
        TimeProvider time,
        ILogger<SandboxService> log,
        ISandboxContainment? containment = null)
    {
        _containment = containment ?? NoContainment.Instance;
        _store = store;
        _runtimes = runtimes;
        _tiers = tiers;
        _network = network;
        _images = images;
        _options = options;
        _addresses = new AddressPool(options.AddressPool);
        _time = time;
        _log = log;
        _hostMemory = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        SandboxesDir = Path.Combine(options.StateDir, "sandboxes");
        VolumesDir = Path.Combine(options.StateDir, "volumes");
        DisksDir = Path.Combine(options.StateDir, "disks");
        StateFolder.CreatePrivate(SandboxesDir);
        StateFolder.CreatePrivate(VolumesDir);
        StateFolder.CreatePrivate(DisksDir);
        foreach (var dir in Directory.EnumerateDirectories(SandboxesDir))
        {
            // Each sandbox's folder too (the root of its disk, or a plain folder an older version made 0755).
            File.SetUnixFileMode(dir, StateFolder.Private);
        }
    }

    internal string SandboxesDir { get; }

    /// <summary>Volumes of sandboxes made before each sandbox had its own disk (their /data stays here).</summary>
    internal string VolumesDir { get; }

    /// <summary>Each sandbox's disk image, &lt;id&gt;.ext4.</summary>
    internal string DisksDir { get; }

    /// <summary>The container tier's runtime.</summary>
    internal IOciRuntime Runtime => _runtimes.For(RuntimeTier.Container);

    internal RuntimeRegistry Runtimes => _runtimes;

    public TierPolicy Tiers => _tiers;

    /// <summary>What enforces network containment on this host.</summary>
    public ISandboxContainment Containment => _containment;

    /// <summary>The runtime that runs this sandbox, chosen by its tier.</summary>
    internal IOciRuntime RuntimeOf(Sandbox s) => _runtimes.For(s.Tier);

    internal HostStore Store => _store;

    internal ISandboxNetwork Network => _network;

    public IReadOnlyList<Sandbox> List() => _store.List();

    public Sandbox Get(string reference) => _store.Find(reference) ?? throw NoSuchSandbox(reference);

    /// <summary>The answer for a sandbox this host does not have (or, over the fabric, one the requester may not see).</summary>
    internal static InvalidRequestException NoSuchSandbox(string reference) =>
        new($"no sandbox '{reference}' on this host; 'moat sandbox ls' lists them.", notFound: true);

    /// <summary>Makes a sandbox from scratch and, by default, starts it.</summary>
    public async Task<Sandbox> CreateAsync(SandboxSpec spec, bool start = true, CancellationToken cancellationToken = default)
    {
        spec.Validate(_hostMemory, Environment.ProcessorCount);
        CheckClientAddress(spec);
        var tier = SelectTier(spec);
        spec = spec with { Tier = tier };
        var image = _images.Resolve(spec.Image);
        Sandbox sandbox;
        await _allocation.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            CheckQuota(spec);
            sandbox = new Sandbox
            {
                Id = NewId(),
                Name = spec.Name,
                Spec = spec,
                ImageDigest = image.Digest,
                State = SandboxState.Creating,
                Address = _addresses.Allocate(_store.IsAddressUsed).ToString(),
                CreatedAt = _time.GetUtcNow(),
                Tier = tier,
            };
            _store.Insert(sandbox);
        }
        finally
        {
            _allocation.Release();
        }

        return await BuildAsync(sandbox, image, start, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Adds one ready, unaddressed sandbox of an image to the warm pool.</summary>
    internal Task<Sandbox> CreatePooledAsync(string imageReference, CancellationToken cancellationToken = default) =>
        CreatePooledAsync(imageReference, RuntimeTier.Container, cancellationToken);

    /// <summary>Adds one ready sandbox of an image and tier to the warm pool.</summary>
    /// <remarks>gVisor's netstack takes the sandbox's address when the sandbox starts and never looks again, so a
    /// gvisor pool sandbox is given its address now; a claim then only gives it limits and a client.</remarks>
    internal async Task<Sandbox> CreatePooledAsync(string imageReference, RuntimeTier tier, CancellationToken cancellationToken = default)
    {
        _ = _runtimes.For(tier);
        var image = _images.Resolve(imageReference);
        Sandbox sandbox;
        await _allocation.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            sandbox = new Sandbox
            {
                Id = NewId(),
                Spec = SandboxSpec.Default with { Image = imageReference, Tier = tier },
                ImageDigest = image.Digest,
                State = SandboxState.Creating,
                PoolImage = image.Digest,
                CreatedAt = _time.GetUtcNow(),
                Tier = tier,
                Address = AddressedAtStart(tier) ? _addresses.Allocate(_store.IsAddressUsed).ToString() : null,
            };
            _store.Insert(sandbox);
        }
        finally
        {
            _allocation.Release();
        }

        return await BuildAsync(sandbox, image, start: true, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Hands out a running sandbox: from the warm pool when one of that image is ready (the claim gives it only an
    /// address, limits and a client), otherwise made cold.
    /// </summary>
    public async Task<(Sandbox Sandbox, bool FromPool)> ClaimAsync(SandboxSpec spec, CancellationToken cancellationToken = default)
    {
        spec.Validate(_hostMemory, Environment.ProcessorCount);
        CheckClientAddress(spec);
        var tier = SelectTier(spec);
        spec = spec with { Tier = tier };
        // Pool sandboxes have the host's default disk, made when the pool filled: another size is a cold create.
        if (spec.Command.Count > 0 || (spec.DiskBytes is { } disk && disk != _options.DiskBytes))
        {
            return (await CreateAsync(spec, true, cancellationToken).ConfigureAwait(false), false);
        }

        var image = _images.Resolve(spec.Image);
        Sandbox? claimed;
        await _allocation.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            CheckQuota(spec);
            var address = AddressedAtStart(tier) ? null : _addresses.Allocate(_store.IsAddressUsed).ToString();
            claimed = _store.ClaimFromPool(image.Digest, tier, s => s with
            {
                Name = spec.Name,
                Spec = spec,
                Address = address ?? s.Address,
                PoolImage = null,
            });
        }
        finally
        {
            _allocation.Release();
        }

        if (claimed is null)
        {
            return (await CreateAsync(spec, true, cancellationToken).ConfigureAwait(false), false);
        }

        PoolClaimed?.Invoke(image.Digest);
        try
        {
            if (!AddressedAtStart(tier))
            {
                await _network.AssignAsync(claimed.Netns, claimed.HostInterface, IPAddress.Parse(claimed.Address!), cancellationToken).ConfigureAwait(false);
            }

            // The claim gives the sandbox its client: its rules are replaced by that client's before it runs code.
            await _containment.AdmitAsync(claimed, cancellationToken).ConfigureAwait(false);

            var pooled = SandboxSpec.Default;
            if (spec.MemoryBytes != pooled.MemoryBytes || spec.Cpus != pooled.Cpus || spec.Pids != pooled.Pids)
            {
                Cgroups.ApplyLimits(claimed.CgroupPath, spec.MemoryBytes, spec.Cpus, spec.Pids);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogClaimFailed(_log, claimed.Id, e);
            await DestroyAsync(claimed.Id, CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        return (claimed, true);
    }

    /// <summary>
    /// Refuses, before anything is made, a client address that would name what no sandbox may reach: another sandbox
    /// (this host's pool), the host itself, loopback, link-local, multicast, broadcast, or (with containment) the host's
    /// LAN unless the policy binds it to the client. The address is the tenant's claim, and it is also the far end of
    /// an untrusted sandbox's tunnel.
    /// </summary>
    private void CheckClientAddress(SandboxSpec spec)
    {
        if (spec.ClientAddress is null || !IPAddress.TryParse(spec.ClientAddress, out var address))
        {
            return;
        }

        var refusal = Moat.Containment.Rules.ClientAddressCheck.Refusal(address, spec.Client, policy: null, options: null, IPNetwork.Parse(_options.AddressPool))
            ?? _containment.ClientAddressRefusal(spec.Client, address);
        if (refusal is not null)
        {
            throw new InvalidRequestException(refusal);
        }
    }

    /// <summary>The tier a spec gets from the policy, checked to be available on this host.</summary>
    private RuntimeTier SelectTier(SandboxSpec spec)
    {
        var tier = _tiers.Select(spec);
        _ = _runtimes.For(tier);
        return tier;
    }

    /// <summary>Whether the tier's runtime reads the sandbox's address only when it starts (gVisor's netstack).</summary>
    internal static bool AddressedAtStart(RuntimeTier tier) => tier == RuntimeTier.Gvisor;

    /// <summary>Raised after a pool sandbox was claimed, so the pool can refill.</summary>
    internal event Action<string>? PoolClaimed;

    /// <summary>Raised once a sandbox's overlay is mounted, before its runtime starts anything in it (the exec
    /// monitor marks the file system here, so the sandbox's first exec is already identified). Args: sandbox, image root.</summary>
    internal event Action<Sandbox, string>? RootfsMounted;

    public async Task<Sandbox> StartAsync(string reference, CancellationToken cancellationToken = default) =>
        (await StartOrRestoreAsync(reference, cancellationToken).ConfigureAwait(false)).Sandbox;

    /// <summary>Starts the sandbox; one that holds a checkpoint (<see cref="CheckpointAsync"/>) is restored from it.</summary>
    internal async Task<(Sandbox Sandbox, bool Restored)> StartOrRestoreAsync(string reference, CancellationToken cancellationToken = default)
    {
        var s = Get(reference);
        using var _ = await LockAsync(s.Id, cancellationToken).ConfigureAwait(false);
        s = _store.Get(s.Id)!;
        if (s.State is SandboxState.Running)
        {
            return (s, false);
        }

        if (s.State is SandboxState.Paused)
        {
            throw new InvalidRequestException($"sandbox {s.DisplayName} is paused; resume it instead.");
        }

        var image = _images.Resolve(s.ImageDigest);
        await EnsurePlumbingAsync(s, image, cancellationToken).ConfigureAwait(false);
        await RuntimeOf(s).DeleteAsync(s.Id, cancellationToken).ConfigureAwait(false);
        var restored = await RunOrRestoreAsync(s, cancellationToken).ConfigureAwait(false);
        s = s with { State = SandboxState.Running, StartedAt = _time.GetUtcNow(), ExitCode = null };
        _store.Update(s);
        return (s, restored);
    }

    public async Task<Sandbox> StopAsync(string reference, TimeSpan grace, CancellationToken cancellationToken = default)
    {
        var s = Get(reference);
        using var _ = await LockAsync(s.Id, cancellationToken).ConfigureAwait(false);
        s = _store.Get(s.Id)!;
        var runtime = RuntimeOf(s);
        var state = await runtime.StateAsync(s.Id, cancellationToken).ConfigureAwait(false);
        if (state is { Status: "paused" })
        {
            await runtime.ResumeAsync(s.Id, cancellationToken).ConfigureAwait(false);
        }

        if (state is { Status: "running" or "paused" })
        {
            await runtime.KillAsync(s.Id, "TERM", cancellationToken).ConfigureAwait(false);
            if (!await WaitForExitAsync(state.Pid, grace, cancellationToken).ConfigureAwait(false))
            {
                await runtime.KillAsync(s.Id, "KILL", cancellationToken).ConfigureAwait(false);
            }
        }

        await runtime.DeleteAsync(s.Id, cancellationToken).ConfigureAwait(false);
        s = s with { State = SandboxState.Stopped };
        _store.Update(s);
        return s;
    }

    public async Task<Sandbox> PauseAsync(string reference, CancellationToken cancellationToken = default)
    {
        var s = Get(reference);
        using var _ = await LockAsync(s.Id, cancellationToken).ConfigureAwait(false);
        s = RequireState(_store.Get(s.Id)!, SandboxState.Running, "pause");
        await RuntimeOf(s).PauseAsync(s.Id, cancellationToken).ConfigureAwait(false);
        s = s with { State = SandboxState.Paused };
        _store.Update(s);
        return s;
    }

    public async Task<Sandbox> ResumeAsync(string reference, CancellationToken cancellationToken = default)
    {
        var s = Get(reference);
        using var _ = await LockAsync(s.Id, cancellationToken).ConfigureAwait(false);
        s = RequireState(_store.Get(s.Id)!, SandboxState.Paused, "resume");
        await RuntimeOf(s).ResumeAsync(s.Id, cancellationToken).ConfigureAwait(false);
        s = s with { State = SandboxState.Running };
        _store.Update(s);
        return s;
    }

    /// <summary>Removes the sandbox and everything it owns; its record goes last, so a crash half-way is finished on restart.</summary>
    public async Task DestroyAsync(string reference, CancellationToken cancellationToken = default)
    {
        var s = Get(reference);
        using var _ = await LockAsync(s.Id, cancellationToken).ConfigureAwait(false);
        s = _store.Get(s.Id);
        if (s is null)
        {
            return;
        }

        _store.Update(s with { State = SandboxState.Destroying });
        await TeardownAsync(s, removeVolume: true, cancellationToken).ConfigureAwait(false);
        _store.Delete(s.Id);
        _locks.TryRemove(s.Id, out var _);
    }

    public async Task<ExecResult> ExecAsync(string reference, IReadOnlyList<string> command, IReadOnlyDictionary<string, string>? env, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if (command.Count == 0 || string.IsNullOrEmpty(command[0]))
        {
            throw new InvalidRequestException("exec needs a command, e.g. 'moat sandbox exec NAME -- sh -c \"echo hi\"'.");
        }

        var s = Get(reference);
        if (s.State is not SandboxState.Running)
        {
            throw new InvalidRequestException($"sandbox {s.DisplayName} is {s.State.ToString().ToLowerInvariant()}; start it before exec.");
        }

        // Concurrent execs count against the quota of the sandbox's client, whoever asks.
        var client = s.Spec.Client;
        string trust;
        try
        {
            trust = _tiers.TrustOf(s.Spec);
        }
        catch (InvalidRequestException)
        {
            // The sandbox asked for more trust than a reloaded policy now gives its client: held to the least quota.
            trust = TierOptions.Untrusted;
        }

        var quota = _containment.QuotaOf(client, trust);
        var running = _execs.AddOrUpdate(client, 1, (_, n) => n + 1);
        try
        {
            if (running > quota.Execs)
            {
                var others = running - 1;
                throw new ResourceExhaustedException(
                    $"client '{client}' has {others} exec{(others == 1 ? "" : "s")} running and its quota ({trust}) is {ClientQuota.Show(quota.Execs)}; wait for one to end, or ask the administrator for a larger quota under 'quotas' in the policy.");
            }

            return await RuntimeOf(s).ExecAsync(s.Id, command, EnvList(s.Spec.Env, env), timeout, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _execs.AddOrUpdate(client, 0, (_, n) => n - 1);
        }
    }

    /// <summary>
    /// Refuses a new sandbox beyond its client's quota (sandboxes held, their memory in total), in one sentence naming
    /// the quota and the use. Called under the allocation lock, so concurrent requests cannot both slip under it.
    /// </summary>
    private void CheckQuota(SandboxSpec spec)
    {
        var trust = _tiers.TrustOf(spec);
        var quota = _containment.QuotaOf(spec.Client, trust);
        // The client's use from one row the store keeps current, not a pass over every sandbox on the host.
        var (held, memory) = _store.ClientUsage(spec.Client);
        if (held + 1 > quota.Sandboxes)
        {
            throw new ResourceExhaustedException(
                $"client '{spec.Client}' holds {held} sandboxes and its quota ({trust}) is {ClientQuota.Show(quota.Sandboxes)}; destroy one first, or ask the administrator for a larger quota under 'quotas' in the policy.");
        }

        if (memory + spec.MemoryBytes > quota.MemoryBytes)
        {
            throw new ResourceExhaustedException(
                $"client '{spec.Client}' has {ClientQuota.Show(memory, bytes: true)} of memory in its sandboxes and asks for {ClientQuota.Show(spec.MemoryBytes, bytes: true)} more, beyond its quota ({trust}) of {ClientQuota.Show(quota.MemoryBytes, bytes: true)}; ask for less memory, or destroy a sandbox first.");
        }
    }

    /// <summary>The interactive form of exec, run by the CLI itself so the user's terminal is attached.</summary>
    public IReadOnlyList<string> InteractiveExec(string reference, IReadOnlyList<string> command, bool tty)
    {
        var s = Get(reference);
        if (s.State is not SandboxState.Running)
        {
            throw new InvalidRequestException($"sandbox {s.DisplayName} is {s.State.ToString().ToLowerInvariant()}; start it before exec.");
        }

        return RuntimeOf(s).InteractiveExecCommand(s.Id, command.Count == 0 ? ["/bin/sh"] : command, tty);
    }

    /// <summary>The last <paramref name="tailBytes"/> of what the sandbox's main process wrote.</summary>
    public string Logs(string reference, int tailBytes = 64 * 1024)
    {
        var s = Get(reference);
        var path = ConsoleLog(s);
        if (!File.Exists(path))
        {
            return string.Empty;
        }

        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        if (f.Length > tailBytes)
        {
            f.Seek(-tailBytes, SeekOrigin.End);
        }

        using var r = new StreamReader(f);
        return r.ReadToEnd();
    }

    public async Task<SandboxDetails> InspectAsync(string reference, CancellationToken cancellationToken = default)
    {
        var s = Get(reference);
        var runtime = RuntimeOf(s);
        var state = await runtime.StateAsync(s.Id, cancellationToken).ConfigureAwait(false);
        return new SandboxDetails(s, state?.Status ?? "absent", state?.Pid ?? 0, runtime.Name, BundleDir(s), RootfsDir(s),
            s.Spec.Volume ? VolumeDir(s) : null, s.Netns, s.HostInterface, s.CgroupPath)
        {
            Tier = s.Tier,
            ExecMonitoring = ExecMonitoringOf(s.Tier),
            OomKills = Cgroups.OomKills(s.CgroupPath),
            Tunnel = Containment.TunnelOf(s),
        };
    }

    private async Task<Sandbox> BuildAsync(Sandbox sandbox, ResolvedImage image, bool start, CancellationToken cancellationToken)
    {
        try
        {
            FaultInjection.Checkpoint("create:journaled");
            await EnsurePlumbingAsync(sandbox, image, cancellationToken).ConfigureAwait(false);
            FaultInjection.Checkpoint("create:plumbed");
            if (start)
            {
                await RuntimeOf(sandbox).RunDetachedAsync(sandbox.Id, BundleDir(sandbox), ConsoleLog(sandbox), cancellationToken).ConfigureAwait(false);
                FaultInjection.Checkpoint("create:started");
            }

            sandbox = sandbox with
            {
                State = start ? SandboxState.Running : SandboxState.Created,
                StartedAt = start ? _time.GetUtcNow() : null,
            };
            _store.Update(sandbox);
            return sandbox;
        }
        catch (Exception e)
        {
            LogCreateFailed(_log, sandbox.Id, e);
            await TeardownAsync(sandbox, removeVolume: true, CancellationToken.None).ConfigureAwait(false);
            _store.Delete(sandbox.Id);
            throw;
        }
    }

    /// <summary>Makes whatever of the sandbox's network, root file system, volume and bundle is missing.</summary>
    internal async Task EnsurePlumbingAsync(Sandbox s, ResolvedImage image, CancellationToken cancellationToken, int? runningPid = null)
    {
        await _network.PrepareAsync(s.Netns, s.HostInterface, runningPid, cancellationToken).ConfigureAwait(false);

        // A running gvisor sandbox's address lives in its netstack, which removed it from the kernel's interface;
        // giving it back to the kernel would make two stacks answer for one address.
        if (s.Address is not null && !(runningPid is not null && AddressedAtStart(s.Tier)))
        {
            await _network.AssignAsync(s.Netns, s.HostInterface, IPAddress.Parse(s.Address), cancellationToken).ConfigureAwait(false);
        }

        if (s.Address is not null)
        {
            // Rules in force before the sandbox's first process starts.
            await _containment.AdmitAsync(s, cancellationToken).ConfigureAwait(false);
        }

        var dir = await EnsureDiskAsync(s, cancellationToken).ConfigureAwait(false);
        if (runningPid is null)
        {
            // A running container holds its own view of the overlay; mounting a second overlay on the same upper
            // folder is undefined, so the host-side mount is only remade for a sandbox that will be (re)started.
            await OverlayRootfs.MountAsync(image.RootfsPath, Path.Combine(dir, "upper"), Path.Combine(dir, "work"), RootfsDir(s), cancellationToken).ConfigureAwait(false);
            RootfsMounted?.Invoke(s, image.RootfsPath);
        }
        if (s.Spec.Volume)
        {
            // Its folder's modes are the sandbox's own business; the sandbox folder (0700) keeps everyone else out.
            Directory.CreateDirectory(VolumeDir(s));
        }

        var config = OciSpecBuilder.Build(new OciSandboxConfig
        {
            RootfsPath = RootfsDir(s),
            Hostname = s.Name ?? s.Id,
            NetnsPath = Path.Combine("/run/netns", s.Netns),
            CgroupsPath = s.CgroupPath,
            InitBinary = _options.ResolvedInitBinary,
            Command = s.Spec.Command.Count > 0 ? s.Spec.Command : [],
            Env = EnvList(ImageEnv(image), s.Spec.Env),
            VolumePath = s.Spec.Volume ? VolumeDir(s) : null,
            MemoryBytes = s.Spec.MemoryBytes,
            Cpus = s.Spec.Cpus,
            Pids = s.Spec.Pids,
        });
        var tmp = Path.Combine(dir, "config.json.tmp");
        await File.WriteAllTextAsync(tmp, config.ToJsonString(), cancellationToken).ConfigureAwait(false);
        File.Move(tmp, Path.Combine(dir, "config.json"), overwrite: true);
    }

    /// <summary>Removes every kernel object and file of a sandbox; each step succeeds when its object is already gone.</summary>
    internal async Task TeardownAsync(Sandbox s, bool removeVolume, CancellationToken cancellationToken)
    {
        if (_runtimes.IsAvailable(s.Tier))
        {
            await RuntimeOf(s).DeleteAsync(s.Id, cancellationToken).ConfigureAwait(false);
        }

        await OverlayRootfs.UnmountAsync(RootfsDir(s), cancellationToken).ConfigureAwait(false);
        // The disk goes after the overlay on it; the kernel frees its loop device at this unmount (autoclear).
        await OverlayRootfs.UnmountAsync(SandboxDir(s), cancellationToken).ConfigureAwait(false);
        await _network.DestroyAsync(s.Netns, s.HostInterface, cancellationToken).ConfigureAwait(false);
        await _containment.ForgetAsync(s, cancellationToken).ConfigureAwait(false);
        var busy = Cgroups.Remove(s.CgroupPath);
        if (busy.Count > 0)
        {
            LogCgroupBusy(_log, s.Id, string.Join(", ", busy));
        }

        if (Directory.Exists(SandboxDir(s)))
        {
            Directory.Delete(SandboxDir(s), recursive: true);
        }

        if (removeVolume && Directory.Exists(LegacyVolumeDir(s)))
        {
            Directory.Delete(LegacyVolumeDir(s), recursive: true);
        }

        File.Delete(DiskImage(s));
        File.Delete(DiskImage(s) + ".partial");
    }

    /// <summary>
    /// The sandbox's folder, on its own disk: the disk is made at the sandbox's first build (for a pool sandbox while
    /// the pool fills, never at the claim) and mounted again where it is not (after a reboot). A folder an older version
    /// made without a disk is kept as it is, unbounded, rather than hidden under a new, empty disk.
    /// </summary>
    private async Task<string> EnsureDiskAsync(Sandbox s, CancellationToken cancellationToken)
    {
        var dir = SandboxDir(s);
        var image = DiskImage(s);
        if (!File.Exists(image))
        {
            if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
            {
                LogNoDisk(_log, s.Id);
                return StateFolder.CreatePrivate(dir);
            }

            await SandboxDisk.CreateAsync(image, s.Spec.DiskBytes ?? _options.DiskBytes, cancellationToken).ConfigureAwait(false);
        }

        if (!OverlayRootfs.IsMounted(dir))
        {
            StateFolder.CreatePrivate(dir);
            SandboxDisk.Mount(image, dir);
        }

        return dir;
    }

    internal string SandboxDir(Sandbox s) => Path.Combine(SandboxesDir, s.Id);

    internal string BundleDir(Sandbox s) => SandboxDir(s);

    internal string RootfsDir(Sandbox s) => Path.Combine(SandboxDir(s), "rootfs");

    /// <summary>/data: on the sandbox's disk, or where an older version put it.</summary>
    internal string VolumeDir(Sandbox s) => Directory.Exists(LegacyVolumeDir(s)) ? LegacyVolumeDir(s) : Path.Combine(SandboxDir(s), "data");

    private string LegacyVolumeDir(Sandbox s) => Path.Combine(VolumesDir, s.Id);

    internal string DiskImage(Sandbox s) => Path.Combine(DisksDir, s.Id + ".ext4");

    internal string ConsoleLog(Sandbox s) => ConsoleLogOf(s.Id);

    internal string ConsoleLogOf(string id) => Path.Combine(SandboxesDir, id, "console.log");

    private async Task<IDisposable> LockAsync(string id, CancellationToken ct)
    {
        var sem = _locks.GetOrAdd(id, _ => new SemaphoreSlim(1, 1));
        await sem.WaitAsync(ct).ConfigureAwait(false);
        return new Releaser(sem);
    }

    private static Sandbox RequireState(Sandbox s, SandboxState wanted, string verb) =>
        s.State == wanted ? s : throw new InvalidRequestException(
            $"cannot {verb} sandbox {s.DisplayName}: it is {s.State.ToString().ToLowerInvariant()}, not {wanted.ToString().ToLowerInvariant()}.");

    private static IReadOnlyList<string> ImageEnv(ResolvedImage image) => image.Env;

    private static List<string> EnvList(IReadOnlyList<string> baseEnv, IReadOnlyDictionary<string, string>? extra)
    {
        var list = new List<string>(baseEnv);
        if (extra is not null)
        {
            list.AddRange(extra.Select(kv => $"{kv.Key}={kv.Value}"));
        }

        return list;
    }

    private static List<string> EnvList(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string>? b) =>
        EnvList(a.Select(kv => $"{kv.Key}={kv.Value}").ToList(), b);

    private static async Task<bool> WaitForExitAsync(int pid, TimeSpan grace, CancellationToken ct)
    {
        if (pid <= 0)
        {
            return true;
        }

        // The init is not our child, so there is no wait(2) for it; a pidfd would do, polling /proc is portable and cheap.
        var deadline = DateTime.UtcNow + grace;
        while (DateTime.UtcNow < deadline)
        {
            if (!Directory.Exists($"/proc/{pid}") || IsZombie(pid))
            {
                return true;
            }

            await Task.Delay(10, ct).ConfigureAwait(false);
        }

        return false;
    }

    private static bool IsZombie(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var close = stat.LastIndexOf(')');
            return close > 0 && close + 2 < stat.Length && stat[close + 2] == 'Z';
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>What the host's exec monitoring can see of a sandbox of this tier.</summary>
    public static string ExecMonitoringOf(RuntimeTier tier) => tier switch
    {
        RuntimeTier.Container => "observed: the sandbox's programs run on the host kernel, whose exec events the monitor reads",
        RuntimeTier.Gvisor => "reported by gVisor: programs run on the sandbox's own kernel, invisible to the host kernel; its sentry reports each exec (runsc trace), which the host cannot verify; from the sandbox's start in this agent's run",
        _ => $"not observable: programs in a {tier.Name()} sandbox run on its own kernel, invisible to the host kernel's exec events",
    };

    private static string NewId() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(5));

    private sealed class Releaser(SemaphoreSlim sem) : IDisposable
    {
        public void Dispose() => sem.Release();
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Warning, Message = "Creating sandbox {Id} failed; removing what was made")]
    private static partial void LogCreateFailed(ILogger logger, string id, Exception exception);

    [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "Claiming pool sandbox {Id} failed; destroying it")]
    private static partial void LogClaimFailed(ILogger logger, string id, Exception exception);

    [LoggerMessage(EventId = 103, Level = LogLevel.Warning, Message = "Sandbox {Id}: made by an older version without a disk of its own; its writes stay unbounded until it is made again")]
    private static partial void LogNoDisk(ILogger logger, string id);

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Sandbox {Id}: cgroups still busy after removal: {Paths}")]
    private static partial void LogCgroupBusy(ILogger logger, string id, string paths);
}

/// <summary>A sandbox with what the runtime and the kernel say about it now.</summary>
/// <remarks><see cref="ExecMonitoring"/> says whether the host's exec events can see programs run inside the sandbox:
/// a monitor that cannot see says so rather than staying silent.</remarks>
public sealed record SandboxDetails(
    Sandbox Sandbox,
    string RuntimeStatus,
    int Pid,
    string Runtime,
    string Bundle,
    string Rootfs,
    string? Volume,
    string Netns,
    string HostInterface,
    string Cgroup)
{
    public RuntimeTier Tier { get; init; } = RuntimeTier.Container;

    public string ExecMonitoring { get; init; } = SandboxService.ExecMonitoringOf(RuntimeTier.Container);

    /// <summary>Processes of the sandbox the kernel killed at its memory limit (the sandbox's own OOM killer, not the host's).</summary>
    public long OomKills { get; init; }

    /// <summary>The sandbox's tunnel to its client (untrusted sandboxes whose client gave an address), else null.</summary>
    public Network.SandboxTunnel? Tunnel { get; init; }
}
