using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Moat.Honeyfarm.Containment;
using Moat.Honeyfarm.Gateway;
using Moat.Linux.Namespaces;
using Moat.Linux.Netlink;

namespace Moat.Honeyfarm.Tests.Integration;

/// <summary>
/// A test internet and a honeyfarm, all in namespaces made here: "inet" (attackers 198.18.96.2 and .3, an innocent
/// victim .4) joined by a veth pair to "gw", where the gateway owns 198.18.128.0/17. Nothing routes anywhere else.
/// </summary>
internal sealed class FarmTopology : IAsyncDisposable
{
    public static readonly IPNetwork Dark = IPNetwork.Parse("198.18.128.0/17");
    public static readonly IPAddress Attacker1 = IPAddress.Parse("198.18.96.2");
    public static readonly IPAddress Attacker2 = IPAddress.Parse("198.18.96.3");
    public static readonly IPAddress Victim = IPAddress.Parse("198.18.96.4");

    private FarmTopology(NetworkNamespace inet, NetworkNamespace gw)
    {
        Inet = inet;
        GatewayNamespace = gw;
    }

    public NetworkNamespace Inet { get; }

    public NetworkNamespace GatewayNamespace { get; }

    public HoneyfarmGateway Gateway { get; private set; } = null!;

    public static async Task<FarmTopology> CreateAsync(Func<HoneyfarmOptions, HoneyfarmOptions>? configure = null)
    {
        var suffix = Random.Shared.Next(0x100000, 0xffffff).ToString("x6", System.Globalization.CultureInfo.InvariantCulture);
        var inet = NetworkNamespace.Create("hft-inet-" + suffix);
        NetworkNamespace? gw = null;
        FarmTopology? topology = null;
        try
        {
            gw = NetworkNamespace.Create("hft-gw-" + suffix);
            topology = new FarmTopology(inet, gw);
            using (var g = RtNetlink.OpenIn(gw))
            using (var i = RtNetlink.OpenIn(inet))
            {
                g.CreateVeth(new VethSpec("out0", "eth0", inet) { Up = true });
                g.AddAddress(g.GetLinkIndex("out0")!.Value, IPAddress.Parse("198.18.96.1"), 24);
                var eth0 = i.GetLinkIndex("eth0")!.Value;
                i.Execute(new NetlinkBatch().SetLinkUp("lo").SetLinkUp(eth0));
                foreach (var a in new[] { Attacker1, Attacker2, Victim })
                {
                    i.AddAddress(eth0, a, 24);
                }

                i.AddRoute(new RouteSpec(Dark, eth0) { Gateway = IPAddress.Parse("198.18.96.1") });
            }

            var options = new HoneyfarmOptions
            {
                DarkRange = Dark,
                OutsideInterface = "out0",
                WarmClones = 2,
                MaxClones = 16,
                ScanFilterInterval = TimeSpan.Zero,
            };
            topology.Gateway = await HoneyfarmGateway.StartAsync(gw, configure?.Invoke(options) ?? options);
            return topology;
        }
        catch
        {
            if (topology is not null)
            {
                await topology.DisposeAsync();
            }
            else
            {
                inet.Dispose();
                NetworkNamespace.Delete(inet.Name);
            }

            throw;
        }
    }

    /// <summary>Connects from <paramref name="from"/> (an address in <paramref name="ns"/>) to ADDRESS:PORT and returns the greeting, or null when no connection was made within the deadline.</summary>
    public static async Task<string?> GreetingAsync(NetworkNamespace ns, IPAddress? from, IPAddress address, int port, TimeSpan? deadline = null)
    {
        var socket = NamespaceRunner.Run(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        using (socket)
        {
            if (from is not null)
            {
                socket.Bind(new IPEndPoint(from, 0));
            }

            using var timeout = new CancellationTokenSource(deadline ?? TimeSpan.FromSeconds(10));
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, port), timeout.Token);
                var buffer = new byte[1024];
                var text = new StringBuilder();
                while (!text.ToString().Contains("address=", StringComparison.Ordinal) || !text.ToString().EndsWith('\n'))
                {
                    var n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                    if (n == 0)
                    {
                        break;
                    }

                    text.Append(Encoding.ASCII.GetString(buffer, 0, n));
                }

                return text.ToString();
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException)
            {
                return null;
            }
        }
    }

    /// <summary>Sends a datagram from ATTACKER to ADDRESS:PORT and returns the answer, or null when none came.</summary>
    public async Task<string?> UdpAsync(IPAddress from, IPAddress address, int port, TimeSpan deadline)
    {
        using var socket = NamespaceRunner.Run(Inet, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        socket.Bind(new IPEndPoint(from, 0));
        using var timeout = new CancellationTokenSource(deadline);
        var buffer = new byte[2048];
        try
        {
            // Resent until answered: the first datagram may wait for the clone; a lost one is the sender's to repeat.
            while (true)
            {
                await socket.SendToAsync("hello"u8.ToArray(), SocketFlags.None, new IPEndPoint(address, port), timeout.Token);
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token);
                attempt.CancelAfter(TimeSpan.FromMilliseconds(500));
                try
                {
                    var r = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), attempt.Token);
                    return Encoding.ASCII.GetString(buffer, 0, r.ReceivedBytes);
                }
                catch (OperationCanceledException) when (!timeout.IsCancellationRequested)
                {
                }
            }
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>Runs ping in the test internet from ATTACKER; true when ADDRESS answered.</summary>
    public async Task<bool> PingAsync(IPAddress from, IPAddress address, int size = 56)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "netns", "exec", Inet.Name, "ping", "-n", "-c", "1", "-W", "5", "-s", size.ToString(System.Globalization.CultureInfo.InvariantCulture), "-I", from.ToString(), address.ToString() })
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return process.ExitCode == 0;
    }

    /// <summary>Opens a network namespace by name (a clone's), for code that plays the infected clone.</summary>
    public static NetworkNamespace Open(string name) => NetworkNamespace.Open(name);

    /// <summary>Polls <paramref name="condition"/> until true or the deadline passes.</summary>
    public static async Task<bool> EventuallyAsync(Func<bool> condition, TimeSpan deadline)
    {
        var stopwatch = Stopwatch.StartNew();
        while (stopwatch.Elapsed < deadline)
        {
            if (condition())
            {
                return true;
            }

            await Task.Delay(20);
        }

        return condition();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Gateway is not null)
            {
                await Gateway.DisposeAsync();
            }
        }
        finally
        {
            Inet.Dispose();
            GatewayNamespace.Dispose();
            NetworkNamespace.Delete(Inet.Name);
            NetworkNamespace.Delete(GatewayNamespace.Name);
        }
    }
}
