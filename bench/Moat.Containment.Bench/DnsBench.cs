using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Moat.Containment.Names;
using Moat.Containment.Policy;
using Moat.Containment.Resolver;
using Moat.Containment.Rules;
using Moat.Linux.Namespaces;
using Moat.Linux.Netlink;

namespace Moat.Containment.Bench;

/// <summary>
/// Egress by name: what the egress resolver adds to a DNS answer. In a namespace of its own: dnsmasq on loopback
/// serving N names (distinct addresses in 198.19.0.0/16), the containment table with one untrusted sandbox, and the
/// resolver forwarding to dnsmasq. Measured in one run, interleaved:
///   set entry   = AdmitNameAddresses: one nf_tables transaction putting the answer's address in dn_&lt;id&gt; until the
///                 kernel acknowledges it (the step between the upstream's answer and the sandbox's answer);
///   resolver    = AnswerAsync for a fresh name: parse, decide, upstream exchange, set entry, answer written (no tenant socket);
///   dnsmasq     = the peer: one UDP query to dnsmasq from a socket in the same namespace, answer received;
///   nft CLI     = the peer of the set entry: `nft add element` of one address with a timeout, one process per element.
/// Then the cost per resolved name as the set fills to N: set-entry p50 per thousand, resolver memory per name.
/// Usage: dns [--names N] [--cli N]
/// </summary>
internal static class DnsBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var names = Arg(args, "--names", 10_000);
        var cliRuns = Arg(args, "--cli", 200);
        var tag = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()[..3]);
        var nsName = "mcbd" + tag;
        var hosts = Path.Combine(Path.GetTempPath(), $"moat-dnsbench-{tag}.hosts");
        using var ns = NetworkNamespace.Create(nsName);
        Process? dnsmasq = null;
        try
        {
            using (var rt = RtNetlink.OpenIn(ns))
            {
                rt.Execute(new NetlinkBatch().SetLinkUp("lo"));
            }

            await File.WriteAllLinesAsync(hosts, Enumerable.Range(0, names).Select(i => $"{Address(i)} n{i:D5}.bench.test"));
            dnsmasq = Process.Start(new ProcessStartInfo("ip", ["netns", "exec", nsName, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
                "--pid-file=", "--bind-interfaces", "--listen-address=127.0.0.1", "--port=5353", "--user=root", "--group=root", $"--addn-hosts={hosts}", "--local-ttl=300", "--cache-size=0"])
            { RedirectStandardError = true, RedirectStandardOutput = true })!;
            var upstream = new IPEndPoint(IPAddress.Loopback, 5353);
            await WaitForAsync(ns, upstream);

            var options = new ContainmentOptions { Resolver = IPAddress.Parse("169.254.1.1"), HostAddresses = [IPAddress.Parse("198.18.0.1")] };
            using var rules = ContainmentRules.Open(options, PolicyParser.Parse("default-trust: untrusted\n", "bench.yaml"), ns);
            var sandbox = new SandboxNetwork("bench01", "mhbench01", IPAddress.Parse("198.18.100.2"), "mallory", null);
            rules.Reconcile([sandbox]);
            var timed = new TimedSets(rules);
            await using var resolver = new EgressResolver(
                new EgressResolverOptions { Upstream = upstream, QueriesPerSecond = 1_000_000, Burst = 1_000_000, MinTtl = TimeSpan.FromSeconds(300) },
                timed,
                ns: ns);
            resolver.Register(new EgressSandbox(sandbox.Id, sandbox.Address, false, EgressNames.Parse(["*.bench.test"], [])));
            var from = new IPEndPoint(sandbox.Address, 40000);

            Console.WriteLine($"# dns bench  {DateTime.UtcNow:u}  kernel {Environment.OSVersion.Version}  {Environment.ProcessorCount} cores  load {File.ReadAllText("/proc/loadavg").Trim()}");
            Console.WriteLine($"# {names} names served by dnsmasq on loopback; resolver and peers interleaved, one query at a time");

            using var peer = NamespaceRunner.Run(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
            await peer.ConnectAsync(upstream);
            var resolverTimes = new List<double>();
            var dnsmasqTimes = new List<double>();
            var gcBefore = GC.GetTotalMemory(forceFullCollection: true);
            var buffer = new byte[4096];
            var perThousand = new List<(int Loaded, double P50, double P99)>();
            var chunk = new List<double>();
            for (var i = 0; i < names; i++)
            {
                var query = Dns.DnsWriter.Query((ushort)i, $"n{i:D5}.bench.test", Dns.DnsMessage.TypeA);

                // Peer: the same name straight from dnsmasq (its cache is off, so both ask it fresh).
                var sw = Stopwatch.StartNew();
                await peer.SendAsync(query);
                await peer.ReceiveAsync(buffer);
                dnsmasqTimes.Add(sw.Elapsed.TotalMilliseconds);

                sw.Restart();
                var answer = await resolver.AnswerAsync(from, query, overTcp: false) ?? throw new InvalidOperationException("no answer");
                resolverTimes.Add(sw.Elapsed.TotalMilliseconds);
                if ((answer[3] & 0xF) != 0)
                {
                    throw new InvalidOperationException($"n{i:D5}.bench.test answered with rcode {answer[3] & 0xF}");
                }

                chunk.Add(timed.Last);
                if (chunk.Count == 1000)
                {
                    perThousand.Add((i + 1, Percentile(chunk, 0.5), Percentile(chunk, 0.99)));
                    chunk.Clear();
                }
            }

            var gcAfter = GC.GetTotalMemory(forceFullCollection: true);
            var inSet = CountSet(nsName, options.Table, RuleNames.NameAddresses(sandbox.Id));

            // Peer of the set entry: the nft CLI adding one element with a timeout, a process each.
            var cliTimes = new List<double>();
            for (var i = 0; i < cliRuns; i++)
            {
                var sw = Stopwatch.StartNew();
                Sh.MustRunIn(ns, null, "nft", "add", "element", "inet", options.Table, RuleNames.NameAddresses(sandbox.Id), $"{{ 198.18.{200 + (i / 250)}.{i % 250} timeout 300s }}");
                cliTimes.Add(sw.Elapsed.TotalMilliseconds);
            }

            Console.WriteLine();
            Console.WriteLine("what (timer spans)                                   | n      | p50 ms  | p99 ms");
            Row("set entry: AdmitNameAddresses, kernel ack", timed.All);
            Row("peer: nft add element (one process each)", cliTimes);
            Row("resolver: AnswerAsync, fresh name, via dnsmasq", resolverTimes);
            Row("peer: dnsmasq answer, UDP on loopback", dnsmasqTimes);
            Console.WriteLine();
            Console.WriteLine($"resolver p50 / dnsmasq p50 = {Percentile(resolverTimes, 0.5) / Percentile(dnsmasqTimes, 0.5):0.00}x; set entry p50 vs nft CLI p50 = {Percentile(cliTimes, 0.5) / Percentile(timed.All, 0.5):0.0}x faster");
            Console.WriteLine($"names in dn_{sandbox.Id}: {inSet} (of {names} resolved); resolver memory {(gcAfter - gcBefore) / (double)names:0} bytes per name");
            Console.WriteLine();
            Console.WriteLine("set size at end of chunk | set entry p50 ms | p99 ms");
            foreach (var (loaded, p50, p99) in perThousand)
            {
                Console.WriteLine($"{loaded,24} | {p50,15:0.000} | {p99,6:0.000}");
            }

            return 0;
        }
        finally
        {
            if (dnsmasq is { HasExited: false })
            {
                dnsmasq.Kill(entireProcessTree: true);
                await dnsmasq.WaitForExitAsync();
            }

            dnsmasq?.Dispose();
            File.Delete(hosts);
            NetworkNamespace.Delete(nsName);
        }
    }

    private static IPAddress Address(int i) => new([198, 19, (byte)(i / 250), (byte)(1 + (i % 250))]);

    private static async Task WaitForAsync(NetworkNamespace ns, IPEndPoint upstream)
    {
        using var socket = NamespaceRunner.Run(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        await socket.ConnectAsync(upstream);
        var buffer = new byte[512];
        for (var attempt = 0; attempt < 50; attempt++)
        {
            await socket.SendAsync(Dns.DnsWriter.Query(1, "n00000.bench.test", Dns.DnsMessage.TypeA));
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
            try
            {
                await socket.ReceiveAsync(buffer, cts.Token);
                return;
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException)
            {
                // Not listening yet: ask again.
            }
        }

        throw new InvalidOperationException("dnsmasq did not answer within 50 tries.");
    }

    private static int CountSet(string ns, string table, string set)
    {
        var json = Sh.MustRun("ip", "netns", "exec", ns, "nft", "-j", "list", "set", "inet", table, set);
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        foreach (var item in doc.RootElement.GetProperty("nftables").EnumerateArray())
        {
            if (item.TryGetProperty("set", out var s))
            {
                return s.TryGetProperty("elem", out var elem) ? elem.GetArrayLength() : 0;
            }
        }

        return 0;
    }

    private static void Row(string label, List<double> times) =>
        Console.WriteLine($"{label,-52} | {times.Count,6} | {Percentile(times, 0.5),7:0.000} | {Percentile(times, 0.99),6:0.000}");

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)(p * sorted.Count))];
    }

    private static int Arg(string[] args, string name, int fallback)
    {
        var at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
    }

    /// <summary>Times each admission (one nf_tables transaction) exactly; nothing else is inside the timer.</summary>
    private sealed class TimedSets(ContainmentRules rules) : INameSets
    {
        public List<double> All { get; } = [];

        public double Last { get; private set; }

        public void AdmitNameAddresses(string id, IReadOnlyList<(IPAddress Address, TimeSpan Timeout)> entries)
        {
            var sw = Stopwatch.StartNew();
            rules.AdmitNameAddresses(id, entries);
            Last = sw.Elapsed.TotalMilliseconds;
            All.Add(Last);
        }

        public void RevokeNameAddresses(string id, IReadOnlyList<IPAddress> addresses) => rules.RevokeNameAddresses(id, addresses);
    }
}
