using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Moat.Containment.Policy;
using Moat.Containment.Rules;
using Moat.Linux.Namespaces;
using Moat.Linux.Nftables;

namespace Moat.Containment.Bench;

/// <summary>
/// Rule application, from request to rules in the kernel: one sandbox's chain change with 1, 100 and 1,000 sandboxes
/// loaded, and a whole 1,000-sandbox ruleset, through Moat's netlink encoder and through `nft -f -` (the peer) in
/// the same run. Usage: rules [--changes N] [--cli-changes N]
/// </summary>
internal static class RulesBench
{
    private const string Policy = """
        default-trust: untrusted
        clients:
          sam: semi-trusted
        allow:
          - name: datasource
            prefixes: [198.18.2.0/24]
            protocols: [tcp, icmp]
            ports: [5432]
          - name: web
            prefixes: [198.19.50.0/24]
            protocols: [tcp]
            ports: [80, 443]
        """;

    public static Task<int> RunAsync(string[] args)
    {
        var changes = Arg(args, "--changes", 300);
        var cliChanges = Arg(args, "--cli-changes", 40);
        var tag = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()[..3]);
        var name = "mcbr" + tag;
        using var ns = NetworkNamespace.Create(name);
        try
        {
            var options = new ContainmentOptions
            {
                HostAddresses = [IPAddress.Parse("198.18.0.1")],
                LanPrefixes = [IPNetwork.Parse("198.18.0.0/30"), IPNetwork.Parse("198.18.1.0/24"), IPNetwork.Parse("198.18.96.0/20")],
            };
            var policy = PolicyParser.Parse(Policy, "bench-policy.yaml");
            Console.WriteLine($"# rules bench  {DateTime.UtcNow:u}  kernel {Environment.OSVersion.Version}  {Environment.ProcessorCount} cores");
            Console.WriteLine($"# one change = replace one sandbox's chain (flush + {RuleCompiler.Compile(policy, Sandbox(0), options).Count} rules), one transaction; half the sandboxes untrusted, half semi-trusted");
            Console.WriteLine();
            Console.WriteLine("loaded  | moat change median  p99     | nft -f - change median  p99    | ratio | full ruleset moat  nft -f -");

            using var socket = NftSocket.OpenIn(ns);
            var floor = Floor(socket, changes);
            foreach (var loaded in new[] { 1, 100, 1000 })
            {
                using var rules = ContainmentRules.Open(options, policy, ns);
                rules.DestroyTable();
                var sandboxes = Enumerable.Range(0, loaded).Select(Sandbox).ToList();
                var full = Stopwatch.StartNew();
                rules.Reconcile(sandboxes);
                full.Stop();

                var moat = new List<double>(changes);
                for (var i = 0; i < changes; i++)
                {
                    // Alternate the client address so that every change really differs from what is loaded.
                    var changed = sandboxes[0] with { ClientAddress = IPAddress.Parse($"198.18.1.{10 + (i % 2)}") };
                    var sw = Stopwatch.StartNew();
                    rules.Apply(changed);
                    moat.Add(sw.Elapsed.TotalMilliseconds);
                }

                var cli = new List<double>(cliChanges);
                for (var i = 0; i < cliChanges; i++)
                {
                    var text = CliChange(options, sandboxes[0], $"198.18.1.{10 + (i % 2)}");
                    var sw = Stopwatch.StartNew();
                    NftIn(ns, text);
                    cli.Add(sw.Elapsed.TotalMilliseconds);
                }

                var cliFull = double.NaN;
                if (loaded == 1000)
                {
                    rules.DestroyTable();
                    var text = CliRuleset(options, sandboxes);
                    var sw = Stopwatch.StartNew();
                    NftIn(ns, text);
                    cliFull = sw.Elapsed.TotalMilliseconds;
                    rules.DestroyTable();
                }

                Console.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"{loaded,7} | {Median(moat),12:F3} ms {P99(moat),7:F3} ms | {Median(cli),15:F2} ms {P99(cli),7:F2} ms | {Median(cli) / Median(moat),5:F0}x | {full.Elapsed.TotalMilliseconds,10:F1} ms {(double.IsNaN(cliFull) ? "" : cliFull.ToString("F1", CultureInfo.InvariantCulture) + " ms")}"));
            }

            Console.WriteLine();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"floor: one netlink round trip with a one-element transaction: median {floor:F3} ms; `nft -f -` of an empty input (fork+exec+parse): {EmptyNft(ns):F2} ms"));
            return Task.FromResult(0);
        }
        finally
        {
            NetworkNamespace.Delete(name);
        }
    }

    private static SandboxNetwork Sandbox(int i) =>
        new($"b{i:x8}", $"mhb{i:x8}", IPAddress.Parse($"198.18.{96 + (i / 250)}.{1 + (i % 250)}"), i % 2 == 0 ? "mallory" : "sam", IPAddress.Parse("198.18.1.10"));

    private static double Floor(NftSocket socket, int runs)
    {
        socket.Commit(new NftTransaction().AddTable(NftFamily.Inet, "floor").AddSet(NftFamily.Inet, "floor", NftSetSpec.Ipv4Addresses("s")));
        var times = new List<double>(runs);
        for (var i = 0; i < runs; i++)
        {
            var sw = Stopwatch.StartNew();
            socket.Commit(new NftTransaction().AddElements(NftFamily.Inet, "floor", "s", [NftElement.Address(IPAddress.Parse("198.18.0.9"))]));
            times.Add(sw.Elapsed.TotalMilliseconds);
        }

        socket.Commit(new NftTransaction().DestroyTable(NftFamily.Inet, "floor"));
        return Median(times);
    }

    private static double EmptyNft(NetworkNamespace ns)
    {
        var times = new List<double>();
        for (var i = 0; i < 20; i++)
        {
            var sw = Stopwatch.StartNew();
            NftIn(ns, "\n");
            times.Add(sw.Elapsed.TotalMilliseconds);
        }

        return Median(times);
    }

    /// <summary>The same change as Moat's, written for `nft -f -`: flush the sandbox's chain and write its rules.</summary>
    private static string CliChange(ContainmentOptions options, SandboxNetwork s, string client)
    {
        var t = options.Table;
        var b = new StringBuilder();
        b.Append(CultureInfo.InvariantCulture, $"flush chain inet {t} sb_{s.Id}\n");
        b.Append(CliChainRules(options, s, client));
        return b.ToString();
    }

    private static string CliChainRules(ContainmentOptions options, SandboxNetwork s, string client)
    {
        var c = $"add rule inet {options.Table} sb_{s.Id}";
        string Log(string rule) => $"counter log prefix \"moat {s.Id} {rule}\" group {options.LogGroup} drop";
        var b = new StringBuilder();
        b.Append(CultureInfo.InvariantCulture, $"{c} meta nfproto != ipv4 {Log("not-ipv4")}\n");
        b.Append(CultureInfo.InvariantCulture, $"{c} ip saddr != {s.Address} {Log("spoof")}\n");
        b.Append(CultureInfo.InvariantCulture, $"{c} ip daddr @fixed_deny {Log("fixed")}\n");
        b.Append(CultureInfo.InvariantCulture, $"{c} tcp dport 25 {Log("smtp")}\n");
        b.Append(CultureInfo.InvariantCulture, $"{c} ip daddr {client} accept\n");
        b.Append(CultureInfo.InvariantCulture, $"{c} ip daddr @ca_{s.Id} accept\n");
        b.Append(CultureInfo.InvariantCulture, $"{c} ip daddr . tcp dport @cp_{s.Id} accept\n");
        b.Append(CultureInfo.InvariantCulture, $"{c} ip daddr . udp dport @cp_{s.Id} accept\n");
        b.Append(CultureInfo.InvariantCulture, $"{c} ip daddr @lan {Log("lan")}\n");
        b.Append(CultureInfo.InvariantCulture, $"{c} {Log("default")}\n");
        return b.ToString();
    }

    /// <summary>The whole 1,000-sandbox table as one `nft -f -` file (the untrusted layout for every sandbox).</summary>
    private static string CliRuleset(ContainmentOptions options, IReadOnlyList<SandboxNetwork> sandboxes)
    {
        var t = options.Table;
        var b = new StringBuilder();
        b.Append(CultureInfo.InvariantCulture, $"add table inet {t}\n");
        b.Append(CultureInfo.InvariantCulture, $"add map inet {t} sandboxes {{ type ifname : verdict; }}\n");
        b.Append(CultureInfo.InvariantCulture, $"add map inet {t} host_input {{ type ifname : verdict; }}\n");
        b.Append(CultureInfo.InvariantCulture, $"add set inet {t} fixed_deny {{ type ipv4_addr; flags interval; elements = {{ 0.0.0.0/8, 127.0.0.0/8, 169.254.0.0/16, 224.0.0.0/4, 198.18.0.1 }} }}\n");
        b.Append(CultureInfo.InvariantCulture, $"add set inet {t} lan {{ type ipv4_addr; flags interval; elements = {{ {string.Join(", ", options.LanPrefixes)} }} }}\n");
        foreach (var (chain, map) in new[] { ("forward", "sandboxes"), ("input", "host_input") })
        {
            b.Append(CultureInfo.InvariantCulture, $"add chain inet {t} {chain} {{ type filter hook {chain} priority 0; policy accept; }}\n");
            b.Append(CultureInfo.InvariantCulture, $"add rule inet {t} {chain} iifname vmap @{map}\n");
        }

        foreach (var s in sandboxes)
        {
            b.Append(CultureInfo.InvariantCulture, $"add set inet {t} ca_{s.Id} {{ type ipv4_addr; flags timeout; }}\n");
            b.Append(CultureInfo.InvariantCulture, $"add set inet {t} cp_{s.Id} {{ type ipv4_addr . inet_service; flags timeout; }}\n");
            b.Append(CultureInfo.InvariantCulture, $"add chain inet {t} sb_{s.Id}\n");
            b.Append(CliChainRules(options, s, s.ClientAddress!.ToString()));
            b.Append(CultureInfo.InvariantCulture, $"add chain inet {t} hin_{s.Id}\n");
            b.Append(CultureInfo.InvariantCulture, $"add rule inet {t} hin_{s.Id} counter log prefix \"moat {s.Id} host\" group {options.LogGroup} drop\n");
            b.Append(CultureInfo.InvariantCulture, $"add element inet {t} sandboxes {{ \"{s.HostInterface}\" : goto sb_{s.Id} }}\n");
            b.Append(CultureInfo.InvariantCulture, $"add element inet {t} host_input {{ \"{s.HostInterface}\" : goto hin_{s.Id} }}\n");
        }

        return b.ToString();
    }

    /// <summary>Runs `nft -f -` forked from a thread inside the namespace (no `ip netns exec` in the measurement).</summary>
    private static void NftIn(NetworkNamespace ns, string input) => NamespaceRunner.Run(ns, () =>
    {
        using var nft = Process.Start(new ProcessStartInfo("nft", ["-f", "-"]) { RedirectStandardInput = true, RedirectStandardError = true, RedirectStandardOutput = true })!;
        nft.StandardInput.Write(input);
        nft.StandardInput.Close();
        var error = nft.StandardError.ReadToEnd();
        nft.WaitForExit();
        if (nft.ExitCode != 0)
        {
            throw new InvalidOperationException($"nft -f - exited {nft.ExitCode}: {error.Trim()}");
        }
    });

    private static double Median(List<double> values) => Percentile(values, 0.5);

    private static double P99(List<double> values) => Percentile(values, 0.99);

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToList();
        return sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
    }

    internal static int Arg(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }
}
