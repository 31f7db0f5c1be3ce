using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Moat.Linux;
using Moat.Linux.Namespaces;
using Moat.Linux.Netlink;

namespace Moat.Containment.Tunnels;

/// <summary>The client's end of one sandbox tunnel (what <c>moat client tunnel</c> sets up).</summary>
/// <param name="HostUnderlayAddress">The surrogate host's address: the VXLAN remote.</param>
/// <param name="Vni">The VXLAN id the host gave this sandbox's tunnel.</param>
/// <param name="SandboxAddress">The sandbox's address: routed into the tunnel, and the only source accepted out of it.</param>
public sealed record ClientTunnelSpec(IPAddress HostUnderlayAddress, uint Vni, IPAddress SandboxAddress)
{
    /// <summary>Masquerade the sandbox's traffic behind the client's own address as it leaves the client.</summary>
    public bool Nat { get; init; }

    /// <summary>Masquerade only out of this interface; null for every interface but the tunnel.</summary>
    public string? Uplink { get; init; }

    /// <summary>The client's own underlay address (VXLAN local), or null to let routing choose.</summary>
    public IPAddress? Local { get; init; }

    public ushort Port { get; init; } = VxlanSpec.DefaultPort;
}

/// <summary>One client tunnel as recorded when it was set up.</summary>
public sealed record ClientTunnelState(string Interface, string Table, uint Vni, string Host, string Sandbox, bool Nat, string? Uplink, string ClientLinkAddress, string HostLinkAddress);

/// <summary>Settings of the client side: where its records live and which namespace it acts in.</summary>
public sealed record ClientTunnelOptions
{
    public const string DefaultStateDirectory = "/run/moat/client";

    /// <summary>One JSON file per tunnel, plus the ip_forward value found before the first tunnel.</summary>
    public string StateDirectory { get; init; } = DefaultStateDirectory;

    /// <summary>The namespace to act in, or null for the calling process's.</summary>
    public NetworkNamespace? Namespace { get; init; }
}

/// <summary>
/// Sets up and removes the client's end of sandbox tunnels: a VXLAN link to the host, a route to the sandbox through
/// it, a forward filter that accepts only the sandbox's address out of the tunnel, optional NAT behind the client's
/// address, and IPv4 forwarding (restored to its old value when the last tunnel goes).
/// </summary>
public sealed class ClientTunnel(ClientTunnelOptions options)
{
    private const string ForwardingKey = "net.ipv4.ip_forward";
    private const string ForwardingBeforeFile = "ip_forward.before";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>Builds (or rebuilds) the tunnel; the nftables table is replaced in one transaction.</summary>
    /// <exception cref="TunnelException">Bad input or a refusal of the kernel; what this call built is removed again.</exception>
    public async Task<ClientTunnelState> UpAsync(ClientTunnelSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        Validate(spec);
        var name = TunnelAddressing.ClientInterface(spec.Vni);
        var state = new ClientTunnelState(
            name, TunnelAddressing.ClientTable(spec.Vni), spec.Vni, spec.HostUnderlayAddress.ToString(), spec.SandboxAddress.ToString(), spec.Nat, spec.Uplink,
            TunnelAddressing.ClientLinkAddress(spec.Vni).ToString(), TunnelAddressing.HostLinkAddress(spec.Vni).ToString());
        Directory.CreateDirectory(options.StateDirectory);
        var forwardingBefore = Path.Combine(options.StateDirectory, ForwardingBeforeFile);
        if (!File.Exists(forwardingBefore))
        {
            await File.WriteAllTextAsync(forwardingBefore, Sysctl.Read(options.Namespace, ForwardingKey), cancellationToken).ConfigureAwait(false);
        }

        try
        {
            using (var netlink = OpenNetlink())
            {
                netlink.DeleteLink(name);
                netlink.CreateVxlan(new VxlanSpec(name, spec.Vni, spec.HostUnderlayAddress, spec.Local) { DestinationPort = spec.Port, Up = true });
                var index = netlink.GetLinkIndex(name) ?? throw new TunnelException($"Tunnel link {name} vanished right after it was created.");
                netlink.Execute(new NetlinkBatch()
                    .AddAddress(index, TunnelAddressing.ClientLinkAddress(spec.Vni), TunnelAddressing.LinkPrefixLength)
                    .AddRoute(new RouteSpec(new IPNetwork(spec.SandboxAddress, 32), index) { Gateway = TunnelAddressing.HostLinkAddress(spec.Vni), OnLink = true }));
            }

            await RunNftAsync(ReplaceTableScript(state), cancellationToken).ConfigureAwait(false);
            Sysctl.Write(options.Namespace, ForwardingKey, "1");
        }
        catch (Exception e) when (e is NetlinkException or LinuxException or IOException)
        {
            await RemoveAsync(spec.Vni, CancellationToken.None).ConfigureAwait(false);
            throw new TunnelException($"The client's end of tunnel {spec.Vni} to host {spec.HostUnderlayAddress} could not be set up: {e.Message}", e);
        }

        await File.WriteAllTextAsync(StatePath(spec.Vni), JsonSerializer.Serialize(state, Json), cancellationToken).ConfigureAwait(false);
        return state;
    }

    /// <summary>Removes one tunnel (or every recorded one when <paramref name="vni"/> is null); returns those removed.</summary>
    public async Task<IReadOnlyList<ClientTunnelState>> DownAsync(uint? vni = null, CancellationToken cancellationToken = default)
    {
        var states = List().Where(s => vni is null || s.Vni == vni).ToList();
        if (vni is { } only && states.Count == 0)
        {
            // Not recorded (e.g. /run was cleared): still remove what carries its names.
            states.Add(new ClientTunnelState(TunnelAddressing.ClientInterface(only), TunnelAddressing.ClientTable(only), only, "", "", false, null, "", ""));
        }

        var removed = new List<ClientTunnelState>();
        foreach (var state in states)
        {
            if (await RemoveAsync(state.Vni, cancellationToken).ConfigureAwait(false))
            {
                removed.Add(state);
            }
        }

        var forwardingBefore = Path.Combine(options.StateDirectory, ForwardingBeforeFile);
        if (List().Count == 0 && File.Exists(forwardingBefore))
        {
            Sysctl.Write(options.Namespace, ForwardingKey, (await File.ReadAllTextAsync(forwardingBefore, cancellationToken).ConfigureAwait(false)).Trim());
            File.Delete(forwardingBefore);
        }

        return removed;
    }

    /// <summary>The tunnels recorded as up.</summary>
    public IReadOnlyList<ClientTunnelState> List() =>
        !Directory.Exists(options.StateDirectory)
            ? []
            : [.. Directory.EnumerateFiles(options.StateDirectory, "tunnel-*.json")
                .Select(f => JsonSerializer.Deserialize<ClientTunnelState>(File.ReadAllText(f), Json))
                .OfType<ClientTunnelState>()
                .OrderBy(s => s.Vni)];

    internal static string ReplaceTableScript(ClientTunnelState state)
    {
        var script = new StringBuilder();
        // Declaring the table first makes the delete valid when it does not exist yet; the file is one transaction.
        script.Append(CultureInfo.InvariantCulture, $"table ip {state.Table} {{}}\ndelete table ip {state.Table}\n");
        script.Append(CultureInfo.InvariantCulture, $"table ip {state.Table} {{\n");
        script.Append(CultureInfo.InvariantCulture, $"  chain forward {{\n    type filter hook forward priority filter; policy accept;\n");
        script.Append(CultureInfo.InvariantCulture, $"    iifname \"{state.Interface}\" ip saddr != {state.Sandbox} counter drop\n  }}\n");
        if (state.Nat)
        {
            var match = state.Uplink is null ? $"oifname != \"{state.Interface}\"" : $"oifname \"{state.Uplink}\"";
            script.Append(CultureInfo.InvariantCulture, $"  chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;\n");
            script.Append(CultureInfo.InvariantCulture, $"    ip saddr {state.Sandbox} {match} counter masquerade\n  }}\n");
        }

        script.Append("}\n");
        return script.ToString();
    }

    private static void Validate(ClientTunnelSpec spec)
    {
        if (spec.Vni is 0 or > VxlanSpec.MaxVni)
        {
            throw new TunnelException($"--vni {spec.Vni} is not valid: use 1 to {VxlanSpec.MaxVni}, the id the host gave the sandbox's tunnel.");
        }

        if (spec.HostUnderlayAddress.AddressFamily != AddressFamily.InterNetwork || spec.SandboxAddress.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new TunnelException($"--host {spec.HostUnderlayAddress} and --sandbox {spec.SandboxAddress} must be IPv4 addresses.");
        }

        if (spec.Uplink is { } uplink && (uplink.Length is 0 or > 15 || !uplink.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
        {
            throw new TunnelException($"--uplink '{uplink}' is not an interface name: use 1 to 15 letters, digits, '-', '_' or '.'.");
        }
    }

    private async Task<bool> RemoveAsync(uint vni, CancellationToken cancellationToken)
    {
        bool linkRemoved;
        using (var netlink = OpenNetlink())
        {
            linkRemoved = netlink.DeleteLink(TunnelAddressing.ClientInterface(vni));
        }

        var table = TunnelAddressing.ClientTable(vni);
        await RunNftAsync($"table ip {table} {{}}\ndelete table ip {table}\n", cancellationToken).ConfigureAwait(false);
        var statePath = StatePath(vni);
        var recorded = File.Exists(statePath);
        File.Delete(statePath);
        return linkRemoved || recorded;
    }

    private string StatePath(uint vni) => Path.Combine(options.StateDirectory, $"tunnel-{vni.ToString(CultureInfo.InvariantCulture)}.json");

    private RtNetlink OpenNetlink() => options.Namespace is null ? RtNetlink.Open() : RtNetlink.OpenIn(options.Namespace);

    private async Task RunNftAsync(string script, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo { RedirectStandardInput = true, RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        if (options.Namespace is null)
        {
            start.FileName = "nft";
        }
        else
        {
            start.FileName = "nsenter";
            start.ArgumentList.Add("--net=" + options.Namespace.Path);
            start.ArgumentList.Add("nft");
        }

        start.ArgumentList.Add("-f");
        start.ArgumentList.Add("-");
        using var process = Process.Start(start) ?? throw new IOException("nft could not be started.");
        await process.StandardInput.WriteAsync(script.AsMemory(), cancellationToken).ConfigureAwait(false);
        process.StandardInput.Close();
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.StandardOutput.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new IOException($"nft -f - exited with {process.ExitCode}: {(await error.ConfigureAwait(false)).Trim()}");
        }
    }
}
