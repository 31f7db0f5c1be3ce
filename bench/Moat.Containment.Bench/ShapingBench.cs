using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Moat.Containment.Shaping;
using Moat.Linux.Namespaces;
using Moat.Linux.Netlink;
using Moat.Linux.Traffic;

namespace Moat.Containment.Bench;

/// <summary>
/// `shaping`: (1) iperf3 between namespaces this program makes, measured against the configured rates (goodput from
/// iperf3, layer-2 rate from the HTB class's byte counter over the middle of the run); (2) the cost of one
/// sandbox's shaping change with 1 and 1,000 sandboxes loaded, against tc/nft CLIs doing the same in the same run.
/// Options: --seconds N (iperf3 run, default 7), --sandboxes N (default 1000), --rates-only, --cost-only.
/// </summary>
internal static partial class ShapingBench
{
    private const string DataSource = "198.19.0.2";
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = IntOption(args, "--seconds", 7);
        var sandboxes = IntOption(args, "--sandboxes", 1000);
        Console.WriteLine($"# shaping benchmark, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, kernel {Sh.MustRun("uname", "-r").Trim()}, {Environment.ProcessorCount} cores");
        Console.WriteLine($"command: Moat.Containment.Bench shaping {string.Join(' ', args)}");
        if (!args.Contains("--cost-only"))
        {
            await RatesAsync(seconds);
        }

        if (!args.Contains("--rates-only"))
        {
            await CostAsync(sandboxes);
        }

        return 0;
    }

    private static int IntOption(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], Inv) : fallback;
    }

    // ---------------------------------------------------------------- measured rate vs configured

    private sealed record Client(string Namespace, int Port, bool Reverse = false);

    private sealed record Measure(string Label, Func<int> Index, TcHandle ClassId, double ExpectedMbit, int[] Ports);

    private static async Task RatesAsync(int seconds)
    {
        await using var world = RateWorld.Create();
        Console.WriteLine();
        Console.WriteLine($"## measured rate vs configured (iperf3 TCP, {seconds} s per run, first second omitted; wire = HTB class byte counter over the middle {seconds - 3} s)");
        Console.WriteLine();
        Console.WriteLine("| scenario | class | configured / expected | iperf3 goodput | goodput / configured | wire rate (class counter) | wire / configured |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        using var rtnl = RtNetlink.OpenIn(world.HostNamespace);
        int Uplink() => rtnl.GetLinkIndex(world.Uplink)!.Value;
        int Veth1() => rtnl.GetLinkIndex(world.Veth(1))!.Value;
        var data = IPNetwork.Parse(DataSource + "/32");
        var any = IPNetwork.Parse("0.0.0.0/0");
        using (var shaper = await SandboxShaper.StartAsync(world.Options("10gbit", 0.5)))
        {
            await shaper.ApplyAsync("sb1", world.Veth(1), new SandboxRates
            {
                Egress = BitRate.Parse("100mbit"),
                Flows = [new FlowClass("c20", data) { Protocol = FlowProtocol.Tcp, Port = 5302, Rate = BitRate.Parse("20mbit") }],
                Rest = BitRate.Parse("1mbit"),
            });
            await RunAsync(world, rtnl, seconds, "one flow class", [new Client(world.Sandbox(1), 5302)],
                [new Measure("c20 (10:11)", Uplink, new TcHandle(0x10, 0x11), 20, [5302])]);

            await shaper.ApplyAsync("sb1", world.Veth(1), new SandboxRates
            {
                Egress = BitRate.Parse("100mbit"),
                Flows =
                [
                    new FlowClass("c1", any) { Protocol = FlowProtocol.Tcp, Port = 5301, Rate = BitRate.Parse("1mbit") },
                    new FlowClass("c20", any) { Protocol = FlowProtocol.Tcp, Port = 5302, Rate = BitRate.Parse("20mbit") },
                ],
            });
            await RunAsync(world, rtnl, seconds, "two concurrent flow classes", [new Client(world.Sandbox(1), 5301), new Client(world.Sandbox(1), 5302)],
                [new Measure("c1 (10:11)", Uplink, new TcHandle(0x10, 0x11), 1, [5301]), new Measure("c20 (10:12)", Uplink, new TcHandle(0x10, 0x12), 20, [5302])]);

            await shaper.ApplyAsync("sb1", world.Veth(1), new SandboxRates { Egress = BitRate.Parse("50mbit"), Flows = [new FlowClass("data", data)] });
            await RunAsync(world, rtnl, seconds, "aggregate cap, two flows to the unlimited class", [new Client(world.Sandbox(1), 5301), new Client(world.Sandbox(1), 5302)],
                [new Measure("sandbox aggregate (10:10)", Uplink, new TcHandle(0x10, 0x10), 50, [5301, 5302])]);

            await shaper.ApplyAsync("sb1", world.Veth(1), new SandboxRates { Egress = BitRate.Parse("100mbit"), Ingress = BitRate.Parse("30mbit") });
            await RunAsync(world, rtnl, seconds, "ingress cap (toward the sandbox, host veth)", [new Client(world.Sandbox(1), 5301, Reverse: true)],
                [new Measure("veth aggregate (20:1)", Veth1, new TcHandle(0x20, 0x1), 30, [5301])]);
            await shaper.RemoveAsync("sb1");
        }

        // Fair share: a 100 Mbit/s uplink, half guaranteed to the host; two sandboxes with caps above the link.
        using (var shaper = await SandboxShaper.StartAsync(world.Options("100mbit", 0.5)))
        {
            await shaper.ApplyAsync("sb1", world.Veth(1), new SandboxRates { Egress = BitRate.Parse("100mbit") });
            await shaper.ApplyAsync("sb2", world.Veth(2), new SandboxRates { Egress = BitRate.Parse("100mbit") });
            await RunAsync(world, rtnl, seconds, "fair share of a 100 Mbit/s uplink: host + 2 sandboxes", [new Client(world.Host, 5303), new Client(world.Sandbox(1), 5301), new Client(world.Sandbox(2), 5302)],
                [
                    new Measure("host (10:2, guaranteed 50)", Uplink, new TcHandle(0x10, 0x2), 50, [5303]),
                    new Measure("sandbox 1 (10:10)", Uplink, new TcHandle(0x10, 0x10), 25, [5301]),
                    new Measure("sandbox 2 (10:20)", Uplink, new TcHandle(0x10, 0x20), 25, [5302]),
                ]);
        }
    }

    private static async Task RunAsync(RateWorld world, RtNetlink rtnl, int seconds, string scenario, Client[] clients, Measure[] measures)
    {
        var servers = new List<Process>();
        try
        {
            foreach (var client in clients)
            {
                servers.Add(await Sh.StartIperfServerAsync(world.Net, client.Port));
            }

            var runs = clients.Select(c => Sh.RunAsync("ip", ["netns", "exec", c.Namespace, "iperf3", "-c", DataSource, "-p", c.Port.ToString(Inv), "-t", seconds.ToString(Inv), "-O", "1", "-J", .. (c.Reverse ? new[] { "-R" } : [])])).ToArray();

            // The counters are sampled over the middle of the run, away from slow start and the end.
            await Task.Delay(TimeSpan.FromSeconds(1.5));
            var before = measures.Select(m => Counter(rtnl, m)).ToArray();
            var clock = Stopwatch.StartNew();
            await Task.Delay(TimeSpan.FromSeconds(seconds - 3));
            var after = measures.Select(m => Counter(rtnl, m)).ToArray();
            var window = clock.Elapsed.TotalSeconds;
            var results = await Task.WhenAll(runs);
            var goodput = new Dictionary<int, double>();
            for (var i = 0; i < clients.Length; i++)
            {
                var (code, stdout, stderr) = results[i];
                if (code != 0)
                {
                    throw new InvalidOperationException($"iperf3 to port {clients[i].Port} failed: {stderr}{stdout}");
                }

                using var json = JsonDocument.Parse(stdout);
                goodput[clients[i].Port] = json.RootElement.GetProperty("end").GetProperty("sum_received").GetProperty("bits_per_second").GetDouble() / 1e6;
            }

            for (var m = 0; m < measures.Length; m++)
            {
                var g = measures[m].Ports.Sum(p => goodput[p]);
                var wire = (after[m] - before[m]) * 8 / window / 1e6;
                var e = measures[m].ExpectedMbit;
                Console.WriteLine($"| {scenario} | {measures[m].Label} | {e:0.###} Mbit/s | {g:0.###} Mbit/s | {g / e * 100:0.0} % | {wire:0.###} Mbit/s | {wire / e * 100:0.0} % |");
            }
        }
        finally
        {
            foreach (var server in servers)
            {
                if (!server.HasExited)
                {
                    server.Kill();
                }

                await server.WaitForExitAsync();
                server.Dispose();
            }
        }
    }

    private static double Counter(RtNetlink rtnl, Measure m) =>
        rtnl.ListClasses(m.Index()).Single(c => c.Handle == m.ClassId).Bytes;

    /// <summary>Host, net (data source 198.19.0.2) and two sandboxes, as in the integration tests.</summary>
    private sealed class RateWorld : IAsyncDisposable
    {
        private readonly List<string> _namespaces = [];

        private RateWorld(string suffix) => Suffix = suffix;

        public string Suffix { get; }

        public string Host => $"mshb-h-{Suffix}";

        public string Net => $"mshb-n-{Suffix}";

        public string Uplink => $"ub{Suffix}";

        public NetworkNamespace HostNamespace { get; private set; } = null!;

        public string Sandbox(int i) => $"mshb-s{i}-{Suffix}";

        public string Veth(int i) => $"mb{Suffix}{i}";

        public ShapingOptions Options(string uplink, double hostShare) => new()
        {
            Uplinks = [new UplinkShaping(Uplink, BitRate.Parse(uplink))],
            HostShare = hostShare,
            Namespace = HostNamespace,
        };

        public static RateWorld Create()
        {
            var world = new RateWorld(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3)));
            try
            {
                world.Build();
                return world;
            }
            catch
            {
                world.DisposeAsync().AsTask().GetAwaiter().GetResult();
                throw;
            }
        }

        public ValueTask DisposeAsync()
        {
            HostNamespace?.Dispose();
            foreach (var ns in Enumerable.Reverse(_namespaces))
            {
                Sh.Run("ip", "netns", "del", ns);
            }

            return ValueTask.CompletedTask;
        }

        private void Add(string ns)
        {
            Sh.MustRun("ip", "netns", "add", ns);
            _namespaces.Add(ns);
        }

        private void Build()
        {
            Add(Host);
            Add(Net);
            var batch = new StringBuilder();
            batch.AppendLine(Inv, $"link add {Uplink} type veth peer name eth0 netns {Net}");
            batch.AppendLine(Inv, $"addr add 198.19.0.1/24 dev {Uplink}");
            batch.AppendLine(Inv, $"link set {Uplink} up");
            batch.AppendLine("link set lo up");
            for (var i = 1; i <= 2; i++)
            {
                Add(Sandbox(i));
                batch.AppendLine(Inv, $"link add {Veth(i)} type veth peer name eth0 netns {Sandbox(i)}");
                batch.AppendLine(Inv, $"addr add 198.18.{i}.1/30 dev {Veth(i)}");
                batch.AppendLine(Inv, $"link set {Veth(i)} up");
            }

            Sh.MustRunInput(batch.ToString(), "ip", "-n", Host, "-batch", "-");
            Sh.MustRunInput($"addr add {DataSource}/24 dev eth0\nlink set eth0 up\nlink set lo up\nroute add 198.18.0.0/16 via 198.19.0.1\n", "ip", "-n", Net, "-batch", "-");
            for (var i = 1; i <= 2; i++)
            {
                Sh.MustRunInput($"addr add 198.18.{i}.2/30 dev eth0\nlink set eth0 up\nlink set lo up\nroute add default via 198.18.{i}.1\n", "ip", "-n", Sandbox(i), "-batch", "-");
            }

            Sh.MustRun("ip", "netns", "exec", Host, "sysctl", "-qw", "net.ipv4.ip_forward=1");
            HostNamespace = NetworkNamespace.Open(Host);
        }
    }
}
