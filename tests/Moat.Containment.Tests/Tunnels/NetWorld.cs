using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Moat.Linux.Namespaces;
using Moat.Linux.Netlink;

namespace Moat.Containment.Tests.Tunnels;

/// <summary>
/// Network namespaces made for one test, joined by veth pairs and addressed from 198.18.0.0/15; every namespace
/// is deleted on dispose, whatever the test did. Names carry a random suffix so parallel tests never collide.
/// </summary>
internal sealed class NetWorld : IDisposable
{
    private readonly string _suffix = Convert.ToHexString(BitConverter.GetBytes(Random.Shared.Next())).ToLowerInvariant()[..6];
    private readonly Dictionary<string, (NetworkNamespace Ns, RtNetlink Netlink)> _nodes = [];

    public NetworkNamespace this[string node] => _nodes[node].Ns;

    public RtNetlink Netlink(string node) => _nodes[node].Netlink;

    public string NameOf(string node) => _nodes[node].Ns.Name;

    /// <summary>Creates namespace "mct-NODE-SUFFIX" with loopback up.</summary>
    public NetworkNamespace Add(string node)
    {
        var ns = NetworkNamespace.Create($"mct-{node}-{_suffix}");
        var netlink = RtNetlink.OpenIn(ns);
        _nodes[node] = (ns, netlink);
        netlink.SetLinkUp("lo");
        return ns;
    }

    /// <summary>Joins two namespaces with a veth pair (ends named as given) and puts an address with prefix on each end.</summary>
    public void Link(string a, string aIf, string aAddress, string b, string bIf, string bAddress, int prefix)
    {
        Netlink(a).Execute(new NetlinkBatch().AddVeth(new VethSpec(aIf, bIf, this[b]) { Up = true }));
        Netlink(b).SetLinkUp(bIf);
        Netlink(a).AddAddress(Netlink(a).GetLinkIndex(aIf)!.Value, IPAddress.Parse(aAddress), prefix);
        Netlink(b).AddAddress(Netlink(b).GetLinkIndex(bIf)!.Value, IPAddress.Parse(bAddress), prefix);
    }

    public void Route(string node, string destination, string gateway) =>
        Netlink(node).AddRoute(new RouteSpec(IPNetwork.Parse(destination)) { Gateway = IPAddress.Parse(gateway) });

    /// <summary>Adds an address on the node's loopback (a service address reachable by routing).</summary>
    public void LoopbackAddress(string node, string address) =>
        Netlink(node).AddAddress(Netlink(node).GetLinkIndex("lo")!.Value, IPAddress.Parse(address), 32);

    public void Forwarding(string node) => Sysctl.Write(this[node], "net.ipv4.ip_forward", "1");

    /// <summary>A TCP listener created inside the node's namespace (a socket stays in the namespace it was made in).</summary>
    public Socket Listen(string node, string address, int port)
    {
        var socket = NamespaceRunner.Run(this[node], () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        socket.Bind(new IPEndPoint(IPAddress.Parse(address), port));
        socket.Listen(16);
        return socket;
    }

    /// <summary>Connects from inside the node's namespace.</summary>
    public async Task<Socket> ConnectAsync(string node, string address, int port, CancellationToken cancellationToken)
    {
        var socket = NamespaceRunner.Run(this[node], () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Parse(address), port), cancellationToken);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Connects from <paramref name="from"/> to the listener and returns the source address the listener saw
    /// (which says which path the connection took), or null when it did not get through in time.
    /// </summary>
    public async Task<IPAddress?> SourceSeenAsync(string from, Socket listener, string address, int port)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            using var client = await ConnectAsync(from, address, port, cts.Token);
            using var accepted = await listener.AcceptAsync(cts.Token);
            return ((IPEndPoint)accepted.RemoteEndPoint!).Address;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException)
        {
            return null;
        }
    }

    /// <summary>Runs a tool inside the node's namespace and returns its standard output; a failure fails the test.</summary>
    public string Run(string node, string file, params string[] args) => Tool(node, file, null, args);

    public string Tool(string? node, string file, string? input, params string[] args)
    {
        var start = new ProcessStartInfo(node is null ? file : "nsenter")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        if (node is not null)
        {
            start.ArgumentList.Add("--net=" + this[node].Path);
            start.ArgumentList.Add(file);
        }

        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        if (input is not null)
        {
            process.StandardInput.Write(input);
        }

        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)} in {node} exited {process.ExitCode}: {stderr}");
        return stdout.Result;
    }

    public void Dispose()
    {
        foreach (var (ns, netlink) in _nodes.Values)
        {
            netlink.Dispose();
            var name = ns.Name;
            ns.Dispose();
            NetworkNamespace.Delete(name);
        }
    }
}
