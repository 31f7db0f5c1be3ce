using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Moat.Linux.Namespaces;

namespace Moat.Containment.Tests.Rules;

/// <summary>
/// Root inside an untrusted sandbox trying to get out: spoofed sources, raw sockets, its own routes and rules, the
/// host and a neighbour. Absence of a packet is shown with a marker: a legitimate datagram sent afterwards on the
/// same path arrives, so a hostile one sent before it would have arrived first.
/// </summary>
[Trait("Category", "Integration")]
[Collection("containment-world")]
[Trait("Category", "Hostile")]
public sealed class HostileTests
{
    private static readonly IPAddress SpoofedSource = IPAddress.Parse("198.18.100.250");

    [Fact]
    public async Task SpoofedSource_IsDroppedForUntrusted_AndTheSameTryGetsThroughForTrusted()
    {
        using var world = new ContainmentWorld();
        var untrusted = world.AddSandbox("mallory");
        var trusted = world.AddSandbox("carol");
        world.Rules.Reconcile([untrusted.Sandbox, trusted.Sandbox]);

        foreach (var s in new[] { untrusted, trusted })
        {
            await Probe.RunAsync("ip", "netns", "exec", s.NamespaceName, "ip", "addr", "add", SpoofedSource + "/32", "dev", "eth0");
        }

        var fromUntrusted = await SendThenMarkAsync(world, untrusted.Namespace, untrusted.Sandbox.Address, ContainmentWorld.Client, SpoofedSource);
        Assert.False(fromUntrusted, "a datagram with a spoofed source left the untrusted sandbox");

        // Control: the same try from a trusted sandbox (not filtered for spoofing) does arrive, so the check can fail.
        var fromTrusted = await SendThenMarkAsync(world, trusted.Namespace, trusted.Sandbox.Address, ContainmentWorld.Client, SpoofedSource);
        Assert.True(fromTrusted, "control: the spoofed datagram from the trusted sandbox should have arrived");
    }

    [Fact]
    public async Task RawSocket_CraftedPacketsToForbiddenOrWithForgedSource_DoNotLeave()
    {
        using var world = new ContainmentWorld();
        var untrusted = world.AddSandbox("mallory");
        world.Rules.Reconcile([untrusted.Sandbox]);

        var marker = "marker-" + Guid.NewGuid().ToString("N");
        var toInternet = "raw-internet-" + Guid.NewGuid().ToString("N");
        var forged = "raw-forged-" + Guid.NewGuid().ToString("N");
        using (var raw = NamespaceRunner.Run(untrusted.Namespace, () => new Socket(AddressFamily.InterNetwork, SocketType.Raw, ProtocolType.Udp)))
        {
            raw.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.HeaderIncluded, true);
            raw.SendTo(Datagram(untrusted.Sandbox.Address, ContainmentWorld.Internet, 5000, toInternet), new IPEndPoint(ContainmentWorld.Internet, 0));
            raw.SendTo(Datagram(ContainmentWorld.Client, ContainmentWorld.Client, 5000, forged), new IPEndPoint(ContainmentWorld.Client, 0));
            raw.SendTo(Datagram(untrusted.Sandbox.Address, ContainmentWorld.Client, 5000, marker), new IPEndPoint(ContainmentWorld.Client, 0));
        }

        await WaitForAsync(world.WorldServers, marker);
        Assert.DoesNotContain(world.WorldServers.Received, r => r.Text == toInternet || r.Text == forged);
    }

    [Fact]
    public async Task ChangingItsOwnRoutesAndRules_DoesNotOpenAnything()
    {
        using var world = new ContainmentWorld();
        var untrusted = world.AddSandbox("mallory");
        var neighbour = world.AddSandbox("carol");
        world.Rules.Reconcile([untrusted.Sandbox, neighbour.Sandbox]);
        var ns = untrusted.NamespaceName;

        // Direct on-link routes (no gateway), a fresh nftables ruleset of its own that accepts everything.
        await Probe.RunAsync("ip", "netns", "exec", ns, "ip", "route", "add", "198.19.50.0/24", "dev", "eth0");
        await Probe.RunAsync("ip", "netns", "exec", ns, "ip", "route", "add", "198.18.0.0/30", "dev", "eth0");
        await Probe.RunAsync("ip", "netns", "exec", ns, "nft", "add table inet mine; add chain inet mine out { type filter hook output priority -500; policy accept; }");

        Assert.False(await Probe.TcpAsync(untrusted.Namespace, ContainmentWorld.Internet, 80));
        Assert.False(await Probe.TcpAsync(untrusted.Namespace, ContainmentWorld.HostUplink, 80));
        Assert.False(await Probe.UdpAsync(untrusted.Namespace, ContainmentWorld.Gateway, 53));
        Assert.False(await Probe.TcpAsync(untrusted.Namespace, neighbour.Sandbox.Address, 80));
        Assert.False(await Probe.IcmpAsync(ns, neighbour.Sandbox.Address));

        // Control: what the policy allows still works through the changed routes.
        Assert.True(await Probe.TcpAsync(untrusted.Namespace, ContainmentWorld.Client, 80));
    }

    /// <summary>Sends a datagram from <paramref name="source"/>, then a marker from the sandbox's own address; true if the first arrived.</summary>
    private static async Task<bool> SendThenMarkAsync(ContainmentWorld world, NetworkNamespace ns, IPAddress own, IPAddress destination, IPAddress source)
    {
        var hostile = "hostile-" + Guid.NewGuid().ToString("N");
        var marker = "marker-" + Guid.NewGuid().ToString("N");
        using (var spoofing = NamespaceRunner.Run(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp)))
        using (var honest = NamespaceRunner.Run(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp)))
        {
            spoofing.Bind(new IPEndPoint(source, 0));
            honest.Bind(new IPEndPoint(own, 0));
            await spoofing.SendToAsync(Encoding.ASCII.GetBytes(hostile), new IPEndPoint(destination, 5000));
            await honest.SendToAsync(Encoding.ASCII.GetBytes(marker), new IPEndPoint(destination, 5000));
        }

        await WaitForAsync(world.WorldServers, marker);
        return world.WorldServers.Received.Any(r => r.Text == hostile);
    }

    private static async Task WaitForAsync(ProbeServers servers, string text)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!servers.Received.Any(r => r.Text == text))
        {
            Assert.True(DateTime.UtcNow < deadline, $"the marker datagram '{text}' never arrived; the allowed path is broken");
            await Task.Delay(5);
        }
    }

    /// <summary>An IPv4 + UDP packet built by hand (the kernel fills in the IP checksum; UDP checksum 0 = none).</summary>
    private static byte[] Datagram(IPAddress source, IPAddress destination, ushort port, string text)
    {
        var payload = Encoding.ASCII.GetBytes(text);
        var packet = new byte[20 + 8 + payload.Length];
        packet[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), (ushort)packet.Length);
        packet[8] = 64;
        packet[9] = 17;
        source.GetAddressBytes().CopyTo(packet, 12);
        destination.GetAddressBytes().CopyTo(packet, 16);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(20), 40000);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(22), port);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(24), (ushort)(8 + payload.Length));
        payload.CopyTo(packet, 28);
        return packet;
    }
}
