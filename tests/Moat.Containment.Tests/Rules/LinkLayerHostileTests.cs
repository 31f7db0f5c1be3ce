using System.Buffers.Binary;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Moat.Linux.Namespaces;
using Moat.Linux.Netlink;

namespace Moat.Containment.Tests.Rules;

/// <summary>
/// Root inside an untrusted or semi-trusted sandbox below IPv4: IPv6 (link-local, multicast, a Router Advertisement)
/// and raw Ethernet frames (gratuitous ARP for a neighbour's or the gateway's address, a foreign ethertype) sent from
/// a packet socket. The host end of each sandbox's veth is a routed point-to-point link, so nothing is bridged; the
/// containment table (family inet) refuses every non-IPv4 packet in the forward hook and every packet to the host
/// itself in the input hook for non-trusted sandboxes; below those rules, the host end itself (IPv6 off, ARP answered
/// and learnt only from the sandbox's own address) takes nothing in from any tier, trusted included.
/// </summary>
[Collection("containment-world")]
[Trait("Category", "Integration")]
[Trait("Category", "Hostile")]
public sealed class LinkLayerHostileTests
{
    private const int Port = 5000;
    private static readonly IPAddress HostLinkLocal = IPAddress.Parse("fe80::1");

    [Fact]
    public async Task Ipv6_FromEveryTier_ReachesNeitherHostNorNeighbour_ThoughItReachesTheHostEnd()
    {
        using var world = new ContainmentWorld();
        var mallory = world.AddSandbox("mallory");
        var sam = world.AddSandbox("sam");
        var carol = world.AddSandbox("carol");
        world.Rules.Reconcile([mallory.Sandbox, sam.Sandbox, carol.Sandbox]);

        // Usable link-local addresses at once (nodad: no duplicate detection to wait for) inside every sandbox; the host
        // ends have no IPv6 at all (disable_ipv6, set before they came up), so nothing can be added there.
        var n = 0x10;
        foreach (var s in new[] { mallory, sam, carol })
        {
            await Probe.RunAsync("ip", "netns", "exec", s.NamespaceName, "ip", "-6", "addr", "add", $"fe80::{n++:x}/64", "dev", "eth0", "nodad");

            // Nothing on the host end answers Neighbour Solicitations now: the sandbox is told where to send instead.
            var hostEnd = await MacAsync(world.HostName, s.Sandbox.HostInterface);
            foreach (var unicast in new[] { HostLinkLocal, IPAddress.Parse("fe80::12") })
            {
                await Probe.RunAsync("ip", "netns", "exec", s.NamespaceName, "ip", "-6", "neigh", "replace", unicast.ToString(), "lladdr", hostEnd, "dev", "eth0", "nud", "permanent");
            }
        }

        using var atHost = Udp6Listener.Start(world.Host);
        using var atNeighbour = Udp6Listener.Start(carol.Namespace);
        using var wire = NamespaceRunner.Run(world.Host, () => new Socket(AddressFamily.Packet, SocketType.Raw, (ProtocolType)EthPAllNetworkOrder));
        var neighbourLinkLocal = IPAddress.Parse("fe80::12");

        var hostile = new List<string>();
        foreach (var s in new[] { mallory, sam, carol })
        {
            var index = Eth0Index(s.Namespace);
            foreach (var destination in new[] { IPAddress.Parse("ff02::1"), HostLinkLocal, neighbourLinkLocal })
            {
                if (s == carol && destination.Equals(neighbourLinkLocal))
                {
                    continue;
                }

                var text = $"v6-{s.Sandbox.Client}-{destination}-{Guid.NewGuid():N}";
                hostile.Add(text);
                await SendUdp6Async(s.Namespace, new IPAddress(destination.GetAddressBytes(), index), text);
            }

            // A Router Advertisement offering a default route and a prefix for autoconfiguration.
            SendRouterAdvertisement(s.Namespace, index);
        }

        // Control: every datagram did reach the host end of its link (seen on the wire in the host's namespace); the
        // IPv6 stack there is what refuses them.
        await WaitForOnTheWireAsync(wire, hostile);

        Assert.DoesNotContain(atHost.Received, hostile.Contains);
        // carol's own multicast loops back to her own socket; what others sent must not reach her.
        Assert.DoesNotContain(atNeighbour.Received, t => hostile.Contains(t) && !t.StartsWith("v6-carol-", StringComparison.Ordinal));
        var routes = await Probe.RunAsync("ip", "netns", "exec", world.HostName, "ip", "-6", "route", "show");
        Assert.DoesNotContain("default", routes, StringComparison.Ordinal);
        Assert.DoesNotContain("2001:db8:bad", routes, StringComparison.Ordinal);
    }

    /// <summary>
    /// A trusted sandbox (no containment rules filter it) sends what would make a host learn routes and neighbours: a
    /// Router Advertisement (default route, autoconfigured prefix), an IPv6 redirect, gratuitous ARP claiming the
    /// gateway's and a neighbour's address, and ARP requests from 200 made-up senders. The host end of its link is made
    /// so that none of it is taken in (HostEnd: IPv6 off, arp_filter, no gratuitous ARP), for every tier.
    /// </summary>
    [Fact]
    public async Task TrustedSandbox_RouterAdvertisementRedirectAndArpClaims_TeachTheHostNoRouteAndNoNeighbour()
    {
        using var world = new ContainmentWorld();
        var carol = world.AddSandbox("carol");
        var dave = world.AddSandbox("carol");
        world.Rules.Reconcile([carol.Sandbox, dave.Sandbox]);

        // The host learns both sandboxes' MACs the ordinary way: it talks to them (trusted, so the echoes come back).
        Assert.True(await Probe.UdpAsync(world.Host, carol.Sandbox.Address, Port));
        Assert.True(await Probe.UdpAsync(world.Host, dave.Sandbox.Address, Port));
        var daveMac = await MacAsync(dave.NamespaceName, "eth0");
        Assert.Equal(daveMac, await NeighbourMacAsync(world.HostName, dave.Sandbox.Address, dave.Sandbox.HostInterface));

        await Probe.RunAsync("ip", "netns", "exec", carol.NamespaceName, "ip", "-6", "addr", "add", "fe80::12/64", "dev", "eth0", "nodad");
        var index = Eth0Index(carol.Namespace);
        SendRouterAdvertisement(carol.Namespace, index);
        SendRedirect(carol.Namespace, index, target: IPAddress.Parse("fe80::bad"), destination: IPAddress.Parse("2001:db8:beef::1"));

        var mac = PhysicalAddress.Parse(await MacAsync(carol.NamespaceName, "eth0")).GetAddressBytes();
        var hostMac = PhysicalAddress.Parse(await MacAsync(world.HostName, carol.Sandbox.HostInterface)).GetAddressBytes();
        using (var packet = NamespaceRunner.Run(carol.Namespace, () => new Socket(AddressFamily.Packet, SocketType.Raw, ProtocolType.Unspecified)))
        {
            var to = new LinkLayerEndPoint(index);
            foreach (var claimed in new[] { ContainmentWorld.Gateway, dave.Sandbox.Address })
            {
                packet.SendTo(Arp(Broadcast, mac, 1, claimed, Broadcast, claimed), to);
                packet.SendTo(Arp(hostMac, mac, 2, claimed, hostMac, claimed), to);
            }

            // A neighbour-table flood: requests for the gateway from senders the sandbox does not own.
            for (var i = 0; i < 200; i++)
            {
                var sender = new IPAddress([198, 19, (byte)(200 + (i / 250)), (byte)(1 + (i % 250))]);
                packet.SendTo(Arp(Broadcast, mac, 1, sender, Broadcast, ContainmentWorld.Gateway), to);
            }
        }

        // The frames above crossed the link before this echo did (one queue, in order).
        Assert.True(await Probe.UdpAsync(world.Host, carol.Sandbox.Address, Port));

        // Every lesson the host took is listed, so that one failure names them all.
        var learnt = new List<string>();
        var routes = await Probe.RunAsync("ip", "netns", "exec", world.HostName, "ip", "-6", "route", "show", "table", "all");
        learnt.AddRange(routes.Split('\n').Where(l => l.StartsWith("default", StringComparison.Ordinal) || l.Contains("2001:db8", StringComparison.Ordinal)).Select(l => "route: " + l));
        var cache = await Probe.RunAsync("ip", "netns", "exec", world.HostName, "ip", "-6", "route", "show", "cache");
        learnt.AddRange(cache.Split('\n').Where(l => l.Contains("fe80::bad", StringComparison.Ordinal)).Select(l => "redirect: " + l));
        var addresses = await Probe.RunAsync("ip", "netns", "exec", world.HostName, "ip", "-6", "addr", "show");
        learnt.AddRange(addresses.Split('\n').Where(l => l.Contains("2001:db8", StringComparison.Ordinal)).Select(l => "address: " + l.Trim()));

        // On carol's link the host knows carol's address and nothing else; dave's entry is still dave's.
        var neighbours = await NeighbourEntriesAsync(world.HostName);
        var foreign = neighbours.Where(e => e.Device == carol.Sandbox.HostInterface && e.Address != carol.Sandbox.Address.ToString()).ToList();
        learnt.AddRange(foreign.Take(3).Select(e => $"neighbour: {e.Address} on {e.Device} at {e.Mac}"));
        if (foreign.Count > 3)
        {
            learnt.Add($"neighbour: ... {foreign.Count} in all on carol's link");
        }

        Assert.True(learnt.Count == 0, "the host learnt from a trusted sandbox: " + string.Join("; ", learnt));
        Assert.Equal(daveMac, await NeighbourMacAsync(world.HostName, dave.Sandbox.Address, dave.Sandbox.HostInterface));
        Assert.True(await Probe.UdpAsync(world.Host, dave.Sandbox.Address, Port));
    }

    [Fact]
    public async Task RawFrames_GratuitousArpAndForeignEthertype_ChangeNothingOnTheHost_AndTheNeighbourIsStillReached()
    {
        using var world = new ContainmentWorld();
        var mallory = world.AddSandbox("mallory");
        var sam = world.AddSandbox("sam");
        var carol = world.AddSandbox("carol");
        world.Rules.Reconcile([mallory.Sandbox, sam.Sandbox, carol.Sandbox]);

        // The host learns the neighbour's MAC the ordinary way: it talks to it (carol is trusted, so the echo comes back).
        Assert.True(await Probe.UdpAsync(world.Host, carol.Sandbox.Address, Port));
        var carolMac = await MacAsync(carol.NamespaceName, "eth0");
        Assert.Equal(carolMac, await NeighbourMacAsync(world.HostName, carol.Sandbox.Address, carol.Sandbox.HostInterface));
        var gatewayMacAtCarol = await NeighbourMacAsync(carol.NamespaceName, ContainmentWorld.Gateway, "eth0");
        var hostNeighboursBefore = await NeighbourEntriesAsync(world.HostName);

        using var capture = NamespaceRunner.Run(carol.Namespace, () => new Socket(AddressFamily.Packet, SocketType.Raw, (ProtocolType)EthPAllNetworkOrder));
        var foreign = "frame-" + Guid.NewGuid().ToString("N");
        foreach (var s in new[] { mallory, sam })
        {
            var mac = PhysicalAddress.Parse(await MacAsync(s.NamespaceName, "eth0")).GetAddressBytes();
            var hostMac = PhysicalAddress.Parse(await MacAsync(world.HostName, s.Sandbox.HostInterface)).GetAddressBytes();
            var index = Eth0Index(s.Namespace);
            using var packet = NamespaceRunner.Run(s.Namespace, () => new Socket(AddressFamily.Packet, SocketType.Raw, ProtocolType.Unspecified));
            var to = new LinkLayerEndPoint(index);
            foreach (var claimed in new[] { carol.Sandbox.Address, ContainmentWorld.Gateway })
            {
                // Gratuitous ARP (request and reply) claiming the address for this sandbox's MAC and for a forged one.
                foreach (var claimant in new[] { mac, Forged })
                {
                    packet.SendTo(Arp(Broadcast, claimant, 1, claimed, Broadcast, claimed), to);
                    packet.SendTo(Arp(hostMac, claimant, 2, claimed, hostMac, claimed), to);
                }
            }

            packet.SendTo(Frame(Broadcast, mac, 0x88B5, Encoding.ASCII.GetBytes(foreign)), to);
            packet.SendTo(Frame(hostMac, mac, 0x88B6, Encoding.ASCII.GetBytes(foreign)), to);
        }

        // Traffic to the neighbour still reaches the neighbour (its echo comes back to the host).
        Assert.True(await Probe.UdpAsync(world.Host, carol.Sandbox.Address, Port));
        Assert.Equal(carolMac, await NeighbourMacAsync(world.HostName, carol.Sandbox.Address, carol.Sandbox.HostInterface));
        Assert.Equal(gatewayMacAtCarol, await NeighbourMacAsync(carol.NamespaceName, ContainmentWorld.Gateway, "eth0"));

        // No entry anywhere on the host names a hostile sandbox's MAC for the neighbour or the gateway.
        var after = await NeighbourEntriesAsync(world.HostName);
        foreach (var (address, device, mac) in after)
        {
            if (address == carol.Sandbox.Address.ToString() || address == ContainmentWorld.Gateway.ToString())
            {
                Assert.True(device != carol.Sandbox.HostInterface || hostNeighboursBefore.Contains((address, device, mac)), $"the host's entry for {address} on {device} changed to {mac}");
            }
        }

        Assert.DoesNotContain(after, e => e.Device == carol.Sandbox.HostInterface && e.Mac != carolMac && e.Mac is not null);

        // The neighbour's link never carried the foreign frames (the UDP echo above went over it after they were sent).
        var buffer = new byte[2048];
        capture.Blocking = false;
        while (true)
        {
            int read;
            try
            {
                read = capture.Receive(buffer);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.WouldBlock)
            {
                break;
            }

            Assert.DoesNotContain(foreign, Encoding.ASCII.GetString(buffer, 0, read), StringComparison.Ordinal);
        }
    }

    private const short EthPAllNetworkOrder = 0x0300; // htons(ETH_P_ALL)

    private static readonly byte[] Broadcast = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    private static readonly byte[] Forged = [0x02, 0x00, 0x00, 0xba, 0xd0, 0x01];

    private static int Eth0Index(NetworkNamespace ns)
    {
        using var netlink = RtNetlink.OpenIn(ns);
        return netlink.GetLinkIndex("eth0")!.Value;
    }

    private static async Task SendUdp6Async(NetworkNamespace ns, IPAddress destination, string text)
    {
        using var socket = NamespaceRunner.Run(ns, () => new Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp));
        if (destination.IsIPv6Multicast)
        {
            socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastInterface, (int)destination.ScopeId);
        }

        await socket.SendToAsync(Encoding.ASCII.GetBytes(text), new IPEndPoint(destination, Port));
    }

    /// <summary>An RA (hop limit 255, as routers send) with router lifetime 1800 s and prefix 2001:db8:bad::/64 (on-link, autonomous).</summary>
    private static void SendRouterAdvertisement(NetworkNamespace ns, int index)
    {
        using var socket = NamespaceRunner.Run(ns, () => new Socket(AddressFamily.InterNetworkV6, SocketType.Raw, ProtocolType.IcmpV6));
        socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastInterface, index);
        socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastTimeToLive, 255);
        var ra = new byte[16 + 32];
        ra[0] = 134;
        ra[4] = 64;
        BinaryPrimitives.WriteUInt16BigEndian(ra.AsSpan(6), 1800);
        ra[16] = 3;
        ra[17] = 4;
        ra[18] = 64;
        ra[19] = 0xC0;
        BinaryPrimitives.WriteUInt32BigEndian(ra.AsSpan(20), 86400);
        BinaryPrimitives.WriteUInt32BigEndian(ra.AsSpan(24), 14400);
        IPAddress.Parse("2001:db8:bad::").GetAddressBytes().CopyTo(ra, 32);
        socket.SendTo(ra, new IPEndPoint(new IPAddress(IPAddress.Parse("ff02::1").GetAddressBytes(), index), 0));
    }

    /// <summary>An ICMPv6 Redirect (RFC 4861 4.5) to ff02::1: DESTINATION is better reached through TARGET.</summary>
    private static void SendRedirect(NetworkNamespace ns, int index, IPAddress target, IPAddress destination)
    {
        using var socket = NamespaceRunner.Run(ns, () => new Socket(AddressFamily.InterNetworkV6, SocketType.Raw, ProtocolType.IcmpV6));
        socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastInterface, index);
        socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastTimeToLive, 255);
        var redirect = new byte[40];
        redirect[0] = 137;
        target.GetAddressBytes().CopyTo(redirect, 8);
        destination.GetAddressBytes().CopyTo(redirect, 24);
        socket.SendTo(redirect, new IPEndPoint(new IPAddress(IPAddress.Parse("ff02::1").GetAddressBytes(), index), 0));
    }

    private static async Task WaitForOnTheWireAsync(Socket wire, IReadOnlyCollection<string> texts)
    {
        var missing = texts.ToHashSet();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (missing.Count > 0)
        {
            int read;
            try
            {
                read = await wire.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"{missing.Count} datagram(s) never reached the host end of their link; the sending path is broken");
                return;
            }

            var frame = Encoding.ASCII.GetString(buffer, 0, read);
            missing.RemoveWhere(t => frame.Contains(t, StringComparison.Ordinal));
        }
    }

    private static byte[] Frame(byte[] destination, byte[] source, ushort etherType, byte[] payload)
    {
        var frame = new byte[Math.Max(60, 14 + payload.Length)];
        destination.CopyTo(frame, 0);
        source.CopyTo(frame, 6);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), etherType);
        payload.CopyTo(frame, 14);
        return frame;
    }

    private static byte[] Arp(byte[] destination, byte[] sender, ushort operation, IPAddress senderIp, byte[] target, IPAddress targetIp)
    {
        var arp = new byte[28];
        BinaryPrimitives.WriteUInt16BigEndian(arp, 1);
        BinaryPrimitives.WriteUInt16BigEndian(arp.AsSpan(2), 0x0800);
        arp[4] = 6;
        arp[5] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(arp.AsSpan(6), operation);
        sender.CopyTo(arp, 8);
        senderIp.GetAddressBytes().CopyTo(arp, 14);
        (operation == 1 ? new byte[6] : target).CopyTo(arp, 18);
        targetIp.GetAddressBytes().CopyTo(arp, 24);
        return Frame(destination, sender, 0x0806, arp);
    }

    private static async Task<string> MacAsync(string ns, string device)
    {
        using var json = JsonDocument.Parse(await Probe.RunAsync("ip", "netns", "exec", ns, "ip", "-j", "link", "show", "dev", device));
        return json.RootElement[0].GetProperty("address").GetString()!;
    }

    private static async Task<string?> NeighbourMacAsync(string ns, IPAddress address, string device) =>
        (await NeighbourEntriesAsync(ns)).FirstOrDefault(e => e.Address == address.ToString() && e.Device == device).Mac;

    private static async Task<HashSet<(string Address, string Device, string? Mac)>> NeighbourEntriesAsync(string ns)
    {
        using var json = JsonDocument.Parse(await Probe.RunAsync("ip", "netns", "exec", ns, "ip", "-j", "-4", "neigh", "show"));
        return json.RootElement.EnumerateArray()
            .Select(e => (e.GetProperty("dst").GetString()!, e.GetProperty("dev").GetString()!, e.TryGetProperty("lladdr", out var l) ? l.GetString() : null))
            .ToHashSet();
    }

    /// <summary>struct sockaddr_ll for sending on one interface (the frame carries its own Ethernet header).</summary>
    private sealed class LinkLayerEndPoint(int index) : EndPoint
    {
        public override AddressFamily AddressFamily => AddressFamily.Packet;

        public override SocketAddress Serialize()
        {
            var address = new SocketAddress(AddressFamily.Packet, 20);
            BinaryPrimitives.WriteInt32LittleEndian(address.Buffer.Span[4..], index);
            address.Buffer.Span[11] = 6;
            return address;
        }
    }

    /// <summary>An IPv6 UDP socket on [::]:5000 in a namespace recording every datagram's text.</summary>
    private sealed class Udp6Listener : IDisposable
    {
        private readonly Socket _socket;
        private readonly CancellationTokenSource _stop = new();

        private Udp6Listener(Socket socket) => _socket = socket;

        public System.Collections.Concurrent.ConcurrentQueue<string> Received { get; } = new();

        public static Udp6Listener Start(NetworkNamespace ns)
        {
            var socket = NamespaceRunner.Run(ns, () =>
            {
                var s = new Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp) { DualMode = false };
                s.Bind(new IPEndPoint(IPAddress.IPv6Any, Port));
                return s;
            });
            var listener = new Udp6Listener(socket);
            _ = listener.LoopAsync();
            return listener;
        }

        public void Dispose()
        {
            _stop.Cancel();
            _socket.Dispose();
            _stop.Dispose();
        }

        private async Task LoopAsync()
        {
            var buffer = new byte[2048];
            try
            {
                while (true)
                {
                    var result = await _socket.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.IPv6Any, 0), _stop.Token);
                    Received.Enqueue(Encoding.ASCII.GetString(buffer, 0, result.ReceivedBytes));
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                // Stopped by Dispose.
            }
        }
    }
}
