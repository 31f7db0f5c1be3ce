using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Moat.Containment.Shaping;
using Moat.Linux.Namespaces;
using Moat.Linux.Netlink;
using Moat.Linux.Traffic;

namespace Moat.Containment.Bench;

// The cost of one sandbox's shaping change, with 1 and N sandboxes' classes and chains loaded, against the tc and
// nft CLIs making the same kernel change in the same run (each CLI forked from a thread inside the namespace, so no
// `ip netns exec` process is counted).
internal static partial class ShapingBench
{
    private static readonly SandboxRates Base = new()
    {
        Egress = BitRate.Parse("50mbit"),
        Ingress = BitRate.Parse("50mbit"),
        Flows =
        [
            new FlowClass("data", IPNetwork.Parse(DataSource + "/32")),
            new FlowClass("web", IPNetwork.Parse("0.0.0.0/0")) { Protocol = FlowProtocol.Tcp, Port = 80, Rate = BitRate.Parse("2mbit") },
        ],
        Rest = BitRate.Parse("1mbit"),
    };

    private static readonly SandboxRates Slower = Base with { Egress = BitRate.Parse("40mbit") };

    private static readonly SandboxRates MoreFlows = Base with
    {
        Flows = [.. Base.Flows, new FlowClass("dns", IPNetwork.Parse("0.0.0.0/0")) { Protocol = FlowProtocol.Udp, Port = 53, Rate = BitRate.Parse("64kbit") }],
    };

    private static async Task CostAsync(int count)
    {
        var suffix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3));
        var host = $"mshc-h-{suffix}";
        var uplink = $"uc{suffix}";
        string Veth(int i) => $"mc{i:x3}{suffix}";
        string Id(int i) => $"sb{i:x3}";
        Sh.MustRun("ip", "netns", "add", host);
        SandboxShaper? shaper = null;
        try
        {
            var setup = new StringBuilder();
            setup.AppendLine($"link add {uplink} type veth peer name {uplink}p");
            setup.AppendLine($"link set {uplink} up");
            for (var i = 0; i <= count; i++)
            {
                setup.AppendLine($"link add {Veth(i)} type veth peer name mq{i:x3}{suffix}");
                setup.AppendLine($"link set {Veth(i)} up");
            }

            var clock = Stopwatch.StartNew();
            Sh.MustRunInput(setup.ToString(), "ip", "-n", host, "-batch", "-");
            Console.WriteLine();
            Console.WriteLine($"## one sandbox's shaping change (setup: {count + 1} veth pairs in {clock.Elapsed.TotalSeconds:0.0} s; every sandbox: 2 flow classes + rest + ingress = 4 uplink classes, 4 veth classes, 2 chains, 2 map elements)");
            using var ns = NetworkNamespace.Open(host);
            var options = new ShapingOptions { Uplinks = [new UplinkShaping(uplink, BitRate.Parse("10gbit"))], Namespace = ns };
            shaper = await SandboxShaper.StartAsync(options);
            await shaper.ApplyAsync(Id(0), Veth(0), Base);
            var rows = new List<string>();
            rows.AddRange(await MeasureAsync(shaper, ns, 1, uplink, Veth(0), Id(0), Id(count), Veth(count)));

            clock.Restart();
            for (var i = 1; i < count; i++)
            {
                await shaper.ApplyAsync(Id(i), Veth(i), Base);
            }

            var load = clock.Elapsed;
            rows.AddRange(await MeasureAsync(shaper, ns, count, uplink, Veth(0), Id(0), Id(count), Veth(count)));

            shaper.Dispose();
            clock.Restart();
            shaper = await SandboxShaper.StartAsync(options);
            var start = clock.Elapsed;
            clock.Restart();
            var live = Enumerable.Range(0, count).Select(i => new ShapedSandbox(Id(i), Veth(i), Base)).ToList();
            var result = await shaper.ReconcileAsync(live);
            var reconcile = clock.Elapsed;

            Console.WriteLine();
            Console.WriteLine("| operation | sandboxes loaded | Moat, in-process netlink: median / p95 | CLI peer: median / p95 | CLI / Moat (medians) |");
            Console.WriteLine("|---|---|---|---|---|");
            foreach (var row in rows)
            {
                Console.WriteLine(row);
            }

            Console.WriteLine();
            Console.WriteLine($"- load {count} sandboxes, one ApplyAsync each: {load.TotalSeconds:0.00} s ({load.TotalMilliseconds / (count - 1):0.00} ms per sandbox)");
            Console.WriteLine($"- agent restart with {count} sandboxes: StartAsync (reads the table back with `nft -j` and the classes by dump) {start.TotalMilliseconds:0} ms; ReconcileAsync of all {result.Applied.Count} (classes re-set, every chain rewritten in one transaction) {reconcile.TotalMilliseconds:0} ms");

            using var rtnl = RtNetlink.OpenIn(ns);
            var roundTrip = Time(1000, () => rtnl.GetLinkIndex(uplink));
            var fork = Time(30, () => Sh.MustRunIn(ns, null, "/bin/true"));
            Console.WriteLine($"- floor: one rtnetlink request and its answer {Ms(roundTrip, 50)}; fork+exec of /bin/true (from a thread in the namespace) {Ms(fork, 50)}");
        }
        finally
        {
            shaper?.Dispose();
            Sh.Run("ip", "netns", "del", host);
        }
    }

    private static async Task<List<string>> MeasureAsync(SandboxShaper shaper, NetworkNamespace ns, int loaded, string uplink, string veth, string id, string spareId, string spareVeth)
    {
        var rows = new List<string>();

        // Rates only: the sandbox's 8 classes change in place; no rule changes.
        var moat = await TimeAsync(200, i => shaper.ApplyAsync(id, veth, i % 2 == 0 ? Slower : Base));
        var batch = Time(100, i => Sh.MustRunIn(ns, TcLines(uplink, veth, i % 2 == 0 ? Slower : Base, "change"), "tc", "-batch", "-"));
        var perProcess = Time(20, i =>
        {
            foreach (var line in TcLines(uplink, veth, i % 2 == 0 ? Slower : Base, "change").Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                Sh.MustRunIn(ns, null, "tc", line.Split(' '));
            }
        });
        rows.Add(Row("rate change (8 classes)", loaded, moat, batch, "`tc -batch`"));
        rows.Add(Row("rate change (8 classes)", loaded, moat, perProcess, "8 × `tc class change`"));

        // Flow classes: one more (and one fewer) flow class: 2 classes added/deleted, 6 changed, both chains rewritten.
        var flows = await TimeAsync(100, i => shaper.ApplyAsync(id, veth, i % 2 == 0 ? MoreFlows : Base));
        var cli = Time(40, i =>
        {
            if (i % 2 == 0)
            {
                Sh.MustRunIn(ns, TcFlowLines(uplink, veth, MoreFlows, Base), "tc", "-batch", "-");
                Sh.MustRunIn(ns, NftLines(id, MoreFlows), "nft", "-f", "-");
            }
            else
            {
                Sh.MustRunIn(ns, NftLines(id, Base), "nft", "-f", "-");
                Sh.MustRunIn(ns, TcFlowLines(uplink, veth, Base, MoreFlows), "tc", "-batch", "-");
            }
        });
        rows.Add(Row("flow class added/removed (classes + rules)", loaded, flows, cli, "`tc -batch` + `nft -f -`"));

        // A new sandbox and its removal.
        var add = new List<double>();
        var remove = new List<double>();
        for (var i = 0; i < 50; i++)
        {
            var clock = Stopwatch.StartNew();
            await shaper.ApplyAsync(spareId, spareVeth, Base);
            add.Add(clock.Elapsed.TotalMilliseconds);
            clock.Restart();
            await shaper.RemoveAsync(spareId);
            remove.Add(clock.Elapsed.TotalMilliseconds);
        }

        rows.Add($"| add a sandbox (8 classes, veth qdisc, 2 chains, 2 elements) | {loaded} | {Ms(add, 50)} / {Ms(add, 95)} | | |");
        rows.Add($"| remove a sandbox | {loaded} | {Ms(remove, 50)} / {Ms(remove, 95)} | | |");
        return rows;
    }

    /// <summary>The same class changes the shaper makes, as tc batch lines (slot 1: the first sandbox applied).</summary>
    private static string TcLines(string uplink, string veth, SandboxRates rates, string verb, Func<HtbClassSpec, bool>? only = null)
    {
        var text = new StringBuilder();
        foreach (var (dev, spec) in Specs(uplink, veth, rates).Where(s => only?.Invoke(s.Spec) ?? true))
        {
            text.Append($"class {verb} dev {dev} parent {spec.Parent} classid {spec.ClassId} htb rate {spec.RateBitsPerSecond}bit ceil {spec.CeilBitsPerSecond}bit");
            text.Append(spec.QuantumBytes is { } q ? $" quantum {q}\n" : "\n");
        }

        return text.ToString();
    }

    /// <summary>Going from <paramref name="from"/> to <paramref name="to"/>: new classes added, kept ones changed, dropped ones deleted.</summary>
    private static string TcFlowLines(string uplink, string veth, SandboxRates to, SandboxRates from)
    {
        var old = Specs(uplink, veth, from).Select(s => (s.Dev, s.Spec.ClassId)).ToHashSet();
        var now = Specs(uplink, veth, to).Select(s => (s.Dev, s.Spec.ClassId)).ToHashSet();
        var text = new StringBuilder();
        text.Append(TcLines(uplink, veth, to, "add", s => !old.Contains((s.ClassId.Major == 0x10 ? uplink : veth, s.ClassId))));
        text.Append(TcLines(uplink, veth, to, "change", s => old.Contains((s.ClassId.Major == 0x10 ? uplink : veth, s.ClassId))));
        foreach (var (dev, classId) in old.Where(o => !now.Contains(o)))
        {
            text.Append($"class del dev {dev} classid {classId}\n");
        }

        return text.ToString();
    }

    private static IEnumerable<(string Dev, HtbClassSpec Spec)> Specs(string uplink, string veth, SandboxRates rates) =>
        ShapingLayout.SandboxUplinkClasses(1, rates, BitRate.Parse("1mbit")).Select(s => (uplink, s))
            .Concat(ShapingLayout.SandboxVethClasses(rates).Select(s => (veth, s)));

    /// <summary>The shaper's two chains for slot 1 written as an nft script.</summary>
    private static string NftLines(string id, SandboxRates rates)
    {
        var text = new StringBuilder();
        foreach (var (chain, outgoing, major) in new[] { ($"up-1-{id}", true, 0x10), ($"dn-{id}", false, 0x20) })
        {
            text.Append($"flush chain inet moat-shaping {chain}\n");
            for (var j = 1; j <= rates.Flows.Count; j++)
            {
                var flow = rates.Flows[j - 1];
                var match = $"ip {(outgoing ? "daddr" : "saddr")} {flow.Remote}";
                if (flow.Protocol != FlowProtocol.Any)
                {
                    var protocol = flow.Protocol.ToString().ToLowerInvariant();
                    match += flow.Port is { } p ? $" {protocol} {(outgoing ? "dport" : "sport")} {p}" : $" meta l4proto {protocol}";
                }

                var minor = major == 0x10 ? 0x10 | j : 0x10 | j;
                text.Append($"add rule inet moat-shaping {chain} {match} meta priority set {major:x}:{minor:x} return\n");
            }

            text.Append($"add rule inet moat-shaping {chain} meta priority set {major:x}:1f\n");
        }

        return text.ToString();
    }

    private static async Task<List<double>> TimeAsync(int iterations, Func<int, Task> action)
    {
        var samples = new List<double>(iterations);
        for (var i = 0; i < iterations; i++)
        {
            var clock = Stopwatch.StartNew();
            await action(i);
            samples.Add(clock.Elapsed.TotalMilliseconds);
        }

        return samples;
    }

    private static List<double> Time(int iterations, Action<int> action)
    {
        var samples = new List<double>(iterations);
        for (var i = 0; i < iterations; i++)
        {
            var clock = Stopwatch.StartNew();
            action(i);
            samples.Add(clock.Elapsed.TotalMilliseconds);
        }

        return samples;
    }

    private static List<double> Time(int iterations, Action action) => Time(iterations, _ => action());

    private static double Percentile(List<double> samples, int percent)
    {
        var sorted = samples.Order().ToList();
        return sorted[Math.Clamp((int)Math.Ceiling(percent / 100.0 * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    private static string Ms(List<double> samples, int percent) => $"{Percentile(samples, percent):0.000} ms";

    private static string Row(string operation, int loaded, List<double> moat, List<double> peer, string peerName) =>
        $"| {operation} | {loaded} | {Ms(moat, 50)} / {Ms(moat, 95)} | {peerName}: {Ms(peer, 50)} / {Ms(peer, 95)} | {Percentile(peer, 50) / Percentile(moat, 50):0.0}× |";
}
