namespace Moat.Host.Agent;

/// <summary>Settings of one host agent, validated at start.</summary>
public sealed record HostAgentOptions
{
    public const string DefaultStateDir = "/var/lib/moat";

    /// <summary>Everything the agent keeps: store, images, sandboxes' layers and volumes, runtime state, socket.</summary>
    public string StateDir { get; init; } = DefaultStateDir;

    /// <summary>IPv4 prefix sandbox addresses come from (RFC 2544's benchmarking range by default, never routed publicly).</summary>
    public string AddressPool { get; init; } = "198.18.0.0/16";

    /// <summary>Network namespace that holds the host ends of the veth pairs; null = the agent's own (the machine's).
    /// Tests give their own namespace so that no sandbox ever has a path to the machine's uplink.</summary>
    public string? HostNamespace { get; init; }

    /// <summary>OCI runtime binary: runc (works as installed) or crun.</summary>
    public string Runtime { get; init; } = "runc";

    /// <summary>Warm pool size per image reference, e.g. busybox=4.</summary>
    public IReadOnlyDictionary<string, int> Pool { get; init; } = new Dictionary<string, int>();

    /// <summary>Path of the static sandbox init; defaults to the one built next to the agent.</summary>
    public string? InitBinary { get; init; }

    /// <summary>Runtime tiers: clients' trust levels, the administrator's per-client tiers, how runsc runs.</summary>
    public Sandboxes.TierOptions Tiers { get; init; } = Sandboxes.TierOptions.Default;

    /// <summary>Bounds on sandbox state arriving from another host, and the key that checkpoints must be sealed with.</summary>
    public Sandboxes.StateImportOptions StateImport { get; init; } = Sandboxes.StateImportOptions.Default;

    /// <summary>Least severe log entry the agent writes to its console (Information by default; a lab of many agents in
    /// one process keeps them at Warning).</summary>
    public Microsoft.Extensions.Logging.LogLevel LogLevel { get; init; } = Microsoft.Extensions.Logging.LogLevel.Information;

    /// <summary>The XMPP fabric this host joins (sandbox operations as IQs, status as presence); null = local API only.</summary>
    public Fabric.FabricOptions? Fabric { get; init; }

    /// <summary>ADDR:PORT of the Prometheus listener (<c>/metrics</c> only); null: none.</summary>
    public string? Metrics { get; init; }

    /// <summary>Exec monitoring, network detection and the response policy (src/Moat.Host/Watch).</summary>
    public Watch.WatchOptions Watch { get; init; } = Moat.Host.Watch.WatchOptions.Default;

    /// <summary>
    /// The administrator's containment policy (YAML, reloaded live). Null: `policy.yaml` in the state folder if it
    /// exists; with no file at all containment is off and sandboxes reach their host only.
    /// </summary>
    public string? PolicyFile { get; init; }

    /// <summary>Root certificate(s) (PEM) that authcerts presented to `sandbox allow` must chain to.</summary>
    public string? AuthCertRoot { get; init; }

    /// <summary>A CRL file or a folder of CRLs (PEM or DER), read live: revoked authcerts are refused and the openings
    /// they made are closed. Null: an opening ends at its certificate's notAfter only.</summary>
    public string? Crl { get; init; }

    /// <summary>
    /// Uplinks sandbox traffic leaves by, each as DEV=RATE (e.g. eth0=1gbit): with one or more, the policy's rates are
    /// enforced by HTB on these devices, shared fairly between the host and its sandboxes. Empty: nothing is shaped.
    /// </summary>
    public IReadOnlyList<string> Uplinks { get; init; } = [];

    /// <summary>
    /// This host's IPv4 address as clients reach it: the local end of the VXLAN tunnel each untrusted sandbox gets to
    /// its client (when the client gave its address). Null: no tunnels.
    /// </summary>
    public string? TunnelAddress { get; init; }

    /// <summary>
    /// The resolver this host forwards sandboxes' allowed names to (moat host --dns-upstream ADDR[:PORT]). With it the
    /// agent runs the egress resolver on the sandboxes' gateway address and the rules send their DNS nowhere else
    /// (docs/containment.md, "Egress by name"). Null: no resolver, DNS is like any other traffic.
    /// </summary>
    public string? DnsUpstream { get; init; }

    /// <summary>
    /// Prefixes of this host's LAN (moat host --lan): with the sandbox pool, what sandboxes that are not trusted may not
    /// reach and no tenant may name as its client's address, unless the policy binds that address to the client.
    /// </summary>
    public IReadOnlyList<string> Lan { get; init; } = [];

    /// <summary>
    /// Disk of each sandbox that does not ask for its own size (SandboxSpec.DiskBytes): a sparse ext4 image, so a
    /// sandbox uses host disk only for what it writes, and never more than this.
    /// </summary>
    public long DiskBytes { get; init; } = 1024 * Sandboxes.SandboxSpec.MiB;

    /// <summary>A sandbox's console log (its main command's output) is cut back to its last part, behind a marker,
    /// once it grows past this.</summary>
    public long ConsoleLogBytes { get; init; } = 8 * Sandboxes.SandboxSpec.MiB;

    /// <summary>How often console logs are measured against <see cref="ConsoleLogBytes"/>; between two looks a log can
    /// only grow up to its sandbox's disk.</summary>
    public TimeSpan ConsoleLogInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The uplinks parsed; refuses a malformed entry with one sentence.</summary>
    public IReadOnlyList<Moat.Containment.Shaping.UplinkShaping> ParsedUplinks() => [.. Uplinks.Select(entry =>
    {
        var eq = entry.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0)
        {
            throw new InvalidRequestException($"uplink '{entry}' is not DEV=RATE (for example eth0=1gbit).");
        }

        try
        {
            return new Moat.Containment.Shaping.UplinkShaping(entry[..eq], Moat.Containment.Shaping.BitRate.Parse(entry[(eq + 1)..], $"bandwidth of uplink {entry[..eq]}"));
        }
        catch (Moat.Containment.Shaping.ShapingInputException e)
        {
            throw new InvalidRequestException($"uplink '{entry}': {e.Message}");
        }
    })];

    public string? ResolvedPolicyFile =>
        PolicyFile ?? (File.Exists(Path.Combine(StateDir, "policy.yaml")) ? Path.Combine(StateDir, "policy.yaml") : null);

    public string SocketPath => Path.Combine(StateDir, "agent.sock");

    public string ResolvedInitBinary => InitBinary ?? Path.Combine(AppContext.BaseDirectory, "moat-init");

    /// <summary><see cref="Lan"/> as IPv4 prefixes.</summary>
    /// <exception cref="InvalidRequestException">One sentence naming the prefix that is not one.</exception>
    public IReadOnlyList<System.Net.IPNetwork> ParsedLan() => Lan.Select(text =>
        System.Net.IPNetwork.TryParse(text, out var prefix) && prefix.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork
            && text.Split('/') is [var address, _] && System.Net.IPAddress.TryParse(address, out var given) && given.Equals(prefix.BaseAddress)
            ? prefix
            : throw new InvalidRequestException($"--lan '{text}' is not an IPv4 prefix of this host's LAN: give it as address/length with no host bits, e.g. 192.168.1.0/24.")).ToList();

    public void Validate()
    {
        if (!Path.IsPathFullyQualified(StateDir))
        {
            throw new InvalidRequestException($"state directory '{StateDir}' must be an absolute path.");
        }

        if (!File.Exists(ResolvedInitBinary))
        {
            throw new InvalidRequestException($"sandbox init '{ResolvedInitBinary}' does not exist; rebuild Moat (it is compiled from native/moat-init.c by gcc).");
        }

        foreach (var (image, n) in Pool)
        {
            if (n is < 0 or > 10_000)
            {
                throw new InvalidRequestException($"pool size {n} for image '{image}' is not valid: give 0 to 10000.");
            }
        }

        if (HostNamespace is not null && !File.Exists(Path.Combine("/run/netns", HostNamespace)))
        {
            throw new InvalidRequestException($"host network namespace '{HostNamespace}' does not exist: make it first (ip netns add {HostNamespace}), or leave out --host-netns to use this machine's.");
        }

        _ = new Network.AddressPool(AddressPool);
        _ = ParsedUplinks();
        if (TunnelAddress is not null
            && (!System.Net.IPAddress.TryParse(TunnelAddress, out var tunnel) || tunnel.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || System.Net.IPAddress.Any.Equals(tunnel)))
        {
            throw new InvalidRequestException($"tunnel address '{TunnelAddress}' is not one IPv4 address of this host (for example 192.0.2.10).");
        }

        _ = ParsedLan();
        if (DnsUpstream is not null)
        {
            try
            {
                _ = Moat.Containment.Resolver.EgressResolverOptions.ParseUpstream(DnsUpstream);
            }
            catch (Moat.Containment.ContainmentInputException e)
            {
                throw new InvalidRequestException(e.Message);
            }
        }

        if (DiskBytes is < Sandboxes.SandboxSpec.MinDiskBytes or > Sandboxes.SandboxSpec.MaxDiskBytes)
        {
            throw new InvalidRequestException($"sandbox disk {DiskBytes / Sandboxes.SandboxSpec.MiB} MiB is not valid: give at least {Sandboxes.SandboxSpec.MinDiskBytes / Sandboxes.SandboxSpec.MiB} MiB (e.g. --disk 1G).");
        }

        if (ConsoleLogBytes < 64 * 1024 || ConsoleLogBytes >= DiskBytes)
        {
            throw new InvalidRequestException($"console log cap {ConsoleLogBytes} bytes is not valid: give at least 64 KiB and less than the sandbox disk ({DiskBytes / Sandboxes.SandboxSpec.MiB} MiB).");
        }

        if (ConsoleLogInterval <= TimeSpan.Zero)
        {
            throw new InvalidRequestException("the console log interval must be positive.");
        }

        Tiers.Validate();
        StateImport.Validate();
        Watch.Validate();
        Fabric?.Validate();
    }
}
