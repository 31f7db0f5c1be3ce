using System.Net;
using System.Text.Json;
using Moat.Containment.Policy;
using Moat.Containment.Rules;
using Moat.Linux.Namespaces;
using Moat.Linux.Netlink;
using Moat.Linux.Plumbing;

namespace Moat.Containment.Tests.Rules;

/// <summary>
/// A small world of namespaces, all in 198.18.0.0/15: a host namespace H holding the containment rules, sandboxes
/// joined to it by their own veth pairs (mh&lt;id&gt;), and a "world" namespace W behind H's uplink that holds the
/// client, the host's LAN, a data source, a DNS server, the internet, a victim and an SMTP relay as addresses of
/// its own. Every destination runs TCP and UDP probe servers. Disposing removes every namespace it made.
/// </summary>
internal sealed class ContainmentWorld : IDisposable
{
    public static readonly IPAddress HostUplink = IPAddress.Parse("198.18.0.1");
    public static readonly IPAddress WorldUplink = IPAddress.Parse("198.18.0.2");
    public static readonly IPAddress Gateway = IPAddress.Parse("169.254.1.1");
    public static readonly IPAddress Client = IPAddress.Parse("198.18.1.10");
    public static readonly IPAddress LanHost = IPAddress.Parse("198.18.1.20");
    public static readonly IPAddress DataSource = IPAddress.Parse("198.18.2.10");
    public static readonly IPAddress Dns = IPAddress.Parse("198.18.2.53");
    public static readonly IPAddress Internet = IPAddress.Parse("198.19.50.10");
    public static readonly IPAddress Victim = IPAddress.Parse("198.19.60.10");
    public static readonly IPAddress SmtpRelay = IPAddress.Parse("198.19.60.25");
    public static readonly IPNetwork SandboxPool = IPNetwork.Parse("198.18.100.0/24");

    public static readonly int[] TcpPorts = [25, 80, 5432, 9100];
    public static readonly int[] UdpPorts = [53, 5000];

    public const string Policy = """
        default-trust: untrusted
        clients:
          carol: trusted
          sam: semi-trusted
        allow:
          - name: datasource
            prefixes: [198.18.2.10]
            protocols: [tcp, icmp]
            ports: [5432]
          - name: dns
            prefixes: [198.18.2.53/32]
            protocols: [udp]
            ports: [53]
          - name: web
            prefixes: [198.19.50.0/24]
            protocols: [tcp]
            ports: [80, 443]
          - name: relay
            prefixes: [198.19.60.25]
            protocols: [tcp]
            ports: [25]
          - name: printer
            prefixes: [198.18.1.20]
            protocols: [tcp]
            ports: [9100]
        client-addresses:                 # the world's client is on the host's LAN: the administrator binds it
          mallory: [198.18.1.10]
          sam: [198.18.1.10]
          carol: [198.18.1.10]
        """;

    private readonly List<IDisposable> _owned = [];
    private readonly List<string> _namespaces = [];
    private readonly Dictionary<string, SandboxLink> _links = [];
    private int _nextSandbox = 2;

    /// <param name="configure">Changes the host's containment options (e.g. turns the egress resolver on).</param>
    /// <param name="hostUdpPorts">UDP probe ports in the host namespace (default <see cref="UdpPorts"/>; leave 53 out when a resolver binds it).</param>
    public ContainmentWorld(string policyYaml = Policy, Func<ContainmentOptions, ContainmentOptions>? configure = null, int[]? hostUdpPorts = null)
    {
        Tag = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()[..3]);
        try
        {
            HostName = "mcH" + Tag;
            WorldName = "mcW" + Tag;
            Host = NewNamespace(HostName);
            World = NewNamespace(WorldName);
            HostNetlink = Own(RtNetlink.OpenIn(Host));
            var world = Own(RtNetlink.OpenIn(World));

            HostNetlink.Execute(new NetlinkBatch().AddVeth(new VethSpec("up0", "w0", World) { Up = true }).SetLinkUp("lo"));
            HostNetlink.Execute(new NetlinkBatch()
                .AddAddress(HostNetlink.GetLinkIndex("up0")!.Value, HostUplink, 30)
                .AddRoute(new RouteSpec(new IPNetwork(IPAddress.Any, 0), HostNetlink.GetLinkIndex("up0")!.Value) { Gateway = WorldUplink }));
            world.Execute(new NetlinkBatch().SetLinkUp("w0").SetLinkUp("lo"));
            var w0 = world.GetLinkIndex("w0")!.Value;
            var lo = world.GetLinkIndex("lo")!.Value;
            var batch = new NetlinkBatch().AddAddress(w0, WorldUplink, 30);
            foreach (var address in new[] { Client, LanHost, DataSource, Dns, Internet, Victim, SmtpRelay })
            {
                batch.AddAddress(lo, address, 32);
            }

            world.Execute(batch.AddRoute(new RouteSpec(SandboxPool, w0) { Gateway = HostUplink }));

            // Forwarding on; reverse-path filtering off, so that only the containment rules stop a spoofed source.
            Sysctl.Write(Host, "net.ipv4.ip_forward", "1");
            Sysctl.Write(Host, "net.ipv4.conf.all.rp_filter", "0");
            Sysctl.Write(Host, "net.ipv4.conf.default.rp_filter", "0");

            WorldServers = Own(ProbeServers.Start(World, TcpPorts, UdpPorts));
            HostServers = Own(ProbeServers.Start(Host, TcpPorts, hostUdpPorts ?? UdpPorts));
            Options = new ContainmentOptions
            {
                HostAddresses = [HostUplink, Gateway],
                LanPrefixes = [IPNetwork.Parse("198.18.0.0/30"), IPNetwork.Parse("198.18.1.0/24"), SandboxPool],
            };
            Options = configure?.Invoke(Options) ?? Options;
            PolicyValue = PolicyParser.Parse(policyYaml, "world-policy.yaml");
            Rules = Own(ContainmentRules.Open(Options, PolicyValue, Host));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Tag { get; }

    public string HostName { get; }

    public string WorldName { get; }

    public NetworkNamespace Host { get; }

    public NetworkNamespace World { get; }

    public RtNetlink HostNetlink { get; }

    public ProbeServers WorldServers { get; }

    public ProbeServers HostServers { get; }

    public ContainmentOptions Options { get; }

    public AdminPolicy PolicyValue { get; }

    public ContainmentRules Rules { get; }

    /// <summary>Creates a sandbox namespace with its veth and /32 (as the host agent does) and starts probe servers in it.</summary>
    public (SandboxNetwork Sandbox, NetworkNamespace Namespace, string NamespaceName) AddSandbox(string client)
    {
        var id = $"{Tag}{_nextSandbox:x2}";
        var address = IPAddress.Parse($"198.18.100.{_nextSandbox++}");
        var name = "mcS" + id;
        var link = SandboxLink.Create(HostNetlink, name, SandboxNetwork.InterfaceFor(id), address, new SandboxLinkOptions { GatewayOnHost = true });
        _links[id] = link;
        _namespaces.Add(name);
        Own(ProbeServers.Start(link.Namespace, TcpPorts, UdpPorts));
        return (new SandboxNetwork(id, SandboxNetwork.InterfaceFor(id), address, client, Client), link.Namespace, name);
    }

    /// <summary>`nft -j list table inet moat` in the host namespace.</summary>
    public async Task<JsonDocument> ListTableAsync() =>
        JsonDocument.Parse(await Probe.RunAsync("ip", "netns", "exec", HostName, "nft", "-j", "list", "table", "inet", Options.Table));

    public static IEnumerable<JsonElement> Items(JsonDocument json, string kind) =>
        json.RootElement.GetProperty("nftables").EnumerateArray().Where(i => i.TryGetProperty(kind, out _)).Select(i => i.GetProperty(kind));

    public void Dispose()
    {
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            _owned[i].Dispose();
        }

        foreach (var link in _links.Values)
        {
            link.Dispose();
        }

        foreach (var name in _namespaces)
        {
            NetworkNamespace.Delete(name);
        }
    }

    private NetworkNamespace NewNamespace(string name)
    {
        var ns = NetworkNamespace.Create(name);
        _namespaces.Add(name);
        return Own(ns);
    }

    private T Own<T>(T item)
        where T : IDisposable
    {
        _owned.Add(item);
        return item;
    }
}
