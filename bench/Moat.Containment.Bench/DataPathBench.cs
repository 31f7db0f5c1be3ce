using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Moat.Containment.Policy;
using Moat.Containment.Rules;
using Moat.Linux.Namespaces;
using Moat.Linux.Netlink;
using Moat.Linux.Plumbing;

namespace Moat.Containment.Bench;

/// <summary>
/// The data path with and without containment rules, same run, alternating: iperf3 TCP throughput and TCP
/// request/response round-trip time from an untrusted sandbox (whose chain ends in "client: accept") to its client
/// in another namespace, with no table vs 1,000 sandboxes' rules loaded. Usage: datapath [--rounds N] [--seconds S]
/// </summary>
internal static class DataPathBench
{
    private static readonly IPAddress HostUplink = IPAddress.Parse("198.18.0.1");
    private static readonly IPAddress Client = IPAddress.Parse("198.18.0.2");

    public static async Task<int> RunAsync(string[] args)
    {
        var rounds = RulesBench.Arg(args, "--rounds", 3);
        var seconds = RulesBench.Arg(args, "--seconds", 3);
        var tag = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()[..3]);
        var hostName = "mcbh" + tag;
        var clientName = "mcbc" + tag;
        var sandboxName = "mcbs" + tag;
        using var host = NetworkNamespace.Create(hostName);
        using var client = NetworkNamespace.Create(clientName);
        SandboxLink? link = null;
        Process? iperfServer = null;
        try
        {
            using var rt = RtNetlink.OpenIn(host);
            rt.Execute(new NetlinkBatch().AddVeth(new VethSpec("up0", "c0", client) { Up = true }).SetLinkUp("lo"));
            rt.Execute(new NetlinkBatch().AddAddress(rt.GetLinkIndex("up0")!.Value, HostUplink, 30));
            using (var crt = RtNetlink.OpenIn(client))
            {
                crt.Execute(new NetlinkBatch().SetLinkUp("c0").SetLinkUp("lo"));
                var c0 = crt.GetLinkIndex("c0")!.Value;
                crt.Execute(new NetlinkBatch().AddAddress(c0, Client, 30).AddRoute(new RouteSpec(IPNetwork.Parse("198.18.100.0/24"), c0) { Gateway = HostUplink }));
            }

            Sysctl.Write(host, "net.ipv4.ip_forward", "1");
            link = SandboxLink.Create(rt, sandboxName, "mhbench", IPAddress.Parse("198.18.100.2"), new SandboxLinkOptions { GatewayOnHost = true });
            var sandbox = new SandboxNetwork("bench", "mhbench", IPAddress.Parse("198.18.100.2"), "mallory", Client);
            var options = new ContainmentOptions { HostAddresses = [HostUplink], LanPrefixes = [IPNetwork.Parse("198.18.100.0/24")] };
            var others = Enumerable.Range(0, 1000).Select(i => new SandboxNetwork($"b{i:x8}", $"mhb{i:x8}", IPAddress.Parse($"198.18.{96 + (i / 250)}.{1 + (i % 250)}"), "mallory", Client)).ToList();
            using var rules = ContainmentRules.Open(options, AdminPolicy.Default, host);
            using var echo = EchoServer.Start(client, 7000);
            iperfServer = Process.Start(new ProcessStartInfo("ip", ["netns", "exec", clientName, "iperf3", "-s", "-p", "5201", "--logfile", "/dev/null"]))!;

            Console.WriteLine($"# datapath bench  {DateTime.UtcNow:u}  {Environment.ProcessorCount} cores  {rounds} rounds x {seconds} s iperf3, 2000 TCP round trips each");
            Console.WriteLine("rules            | throughput Gbit/s (per round)          | rtt median us  p99 us");
            var results = new Dictionary<string, (List<double> Gbps, List<double> Rtt)> { ["none"] = ([], []), ["1,000 loaded"] = ([], []) };
            for (var r = 0; r < rounds; r++)
            {
                foreach (var mode in results.Keys)
                {
                    rules.DestroyTable();
                    if (mode != "none")
                    {
                        rules.Reconcile([.. others, sandbox]);
                    }

                    results[mode].Gbps.Add(await IperfAsync(sandboxName, seconds));
                    results[mode].Rtt.AddRange(RoundTrips(link.Namespace, 2000));
                }
            }

            foreach (var (mode, (gbps, rtt)) in results)
            {
                var sorted = rtt.Order().ToList();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{mode,-16} | {gbps.Average(),6:F2} ({string.Join(", ", gbps.Select(g => g.ToString("F2", CultureInfo.InvariantCulture)))}) | {sorted[sorted.Count / 2],8:F1} {sorted[(int)(sorted.Count * 0.99)],7:F1}"));
            }

            var none = results["none"].Gbps.Average();
            var loaded = results["1,000 loaded"].Gbps.Average();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"throughput with 1,000 sandboxes' rules: {100 * (loaded - none) / none:+0.0;-0.0}% vs none"));
            rules.DestroyTable();
            return 0;
        }
        finally
        {
            if (iperfServer is { HasExited: false })
            {
                iperfServer.Kill();
            }

            iperfServer?.Dispose();
            link?.Dispose();
            NetworkNamespace.Delete(sandboxName);
            NetworkNamespace.Delete(hostName);
            NetworkNamespace.Delete(clientName);
        }
    }

    /// <summary>One iperf3 run from the sandbox to the long-running server in the client namespace (a one-shot
    /// `iperf3 -s -1` per round sometimes never exited here, hanging the bench).</summary>
    private static async Task<double> IperfAsync(string sandboxNs, int seconds)
    {
        var deadline = Environment.TickCount64 + 10_000;
        while (true)
        {
            var (code, stdout, stderr) = await RunAsync("ip", "netns", "exec", sandboxNs, "iperf3", "-c", Client.ToString(), "-p", "5201", "-t", seconds.ToString(CultureInfo.InvariantCulture), "-J");
            if (code == 0)
            {
                using var json = JsonDocument.Parse(stdout);
                return json.RootElement.GetProperty("end").GetProperty("sum_received").GetProperty("bits_per_second").GetDouble() / 1e9;
            }

            // The server may not listen yet, or be finishing the previous run: retry, bounded.
            if (Environment.TickCount64 > deadline)
            {
                throw new InvalidOperationException($"iperf3 client failed: {stderr.Trim()} {stdout.Trim()}");
            }

            await Task.Delay(50);
        }
    }

    private static List<double> RoundTrips(NetworkNamespace ns, int count)
    {
        using var socket = NamespaceRunner.Run(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true });
        socket.Connect(new IPEndPoint(Client, 7000));
        var buffer = new byte[1];
        var times = new List<double>(count);
        for (var i = 0; i < count; i++)
        {
            var sw = Stopwatch.StartNew();
            socket.Send(buffer);
            if (socket.Receive(buffer) != 1)
            {
                throw new InvalidOperationException("the echo server closed the connection");
            }

            times.Add(sw.Elapsed.TotalMicroseconds);
        }

        return times;
    }

    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string file, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>A one-byte TCP echo inside a namespace, for round-trip times.</summary>
    private sealed class EchoServer : IDisposable
    {
        private readonly Socket _listener;

        private EchoServer(Socket listener) => _listener = listener;

        public static EchoServer Start(NetworkNamespace ns, int port)
        {
            var listener = NamespaceRunner.Run(ns, () =>
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                s.Bind(new IPEndPoint(IPAddress.Any, port));
                s.Listen(16);
                return s;
            });
            var server = new EchoServer(listener);
            _ = Task.Run(server.LoopAsync);
            return server;
        }

        public void Dispose() => _listener.Dispose();

        private async Task LoopAsync()
        {
            try
            {
                while (true)
                {
                    var connection = await _listener.AcceptAsync();
                    connection.NoDelay = true;
                    _ = Task.Run(async () =>
                    {
                        using (connection)
                        {
                            var b = new byte[1];
                            while (await connection.ReceiveAsync(b) == 1)
                            {
                                await connection.SendAsync(b);
                            }
                        }
                    });
                }
            }
            catch (Exception e) when (e is ObjectDisposedException or SocketException)
            {
                // Stopped.
            }
        }
    }
}
