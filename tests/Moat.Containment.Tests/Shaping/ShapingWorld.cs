using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Moat.Containment.Shaping;
using Moat.Linux.Namespaces;

namespace Moat.Containment.Tests.Shaping;

/// <summary>
/// A host namespace with an uplink to a "net" namespace (data source 198.19.0.2, another node 198.19.0.3) and
/// sandboxes on veths mh*; every name carries a random suffix, and everything goes in <see cref="DisposeAsync"/>.
/// </summary>
internal sealed partial class ShapingWorld : IAsyncDisposable
{
    public const string DataSource = "198.19.0.2";
    public const string OtherNode = "198.19.0.3";

    private readonly List<string> _namespaces = [];

    private ShapingWorld(string suffix) => Suffix = suffix;

    public string Suffix { get; }

    public string Host => $"msh-h-{Suffix}";

    public string Net => $"msh-n-{Suffix}";

    public string Uplink => $"up{Suffix}";

    public NetworkNamespace HostNamespace { get; private set; } = null!;

    public static ShapingWorld Create(int sandboxes)
    {
        var world = new ShapingWorld(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3)));
        try
        {
            world.Build(sandboxes);
            return world;
        }
        catch
        {
            world.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
    }

    public string Sandbox(int i) => $"msh-s{i}-{Suffix}";

    public string Veth(int i) => $"mh{Suffix}{i}";

    public ShapingOptions Options(string uplinkRate = "10gbit") => new()
    {
        Uplinks = [new UplinkShaping(Uplink, BitRate.Parse(uplinkRate))],
        Namespace = HostNamespace,
    };

    public ValueTask DisposeAsync()
    {
        HostNamespace?.Dispose();
        var failures = new List<string>();
        foreach (var ns in Enumerable.Reverse(_namespaces))
        {
            var (code, _, stderr) = Run("ip", "netns", "del", ns);
            if (code != 0)
            {
                failures.Add($"{ns}: {stderr.Trim()}");
            }
        }

        return failures.Count == 0 ? ValueTask.CompletedTask : throw new InvalidOperationException($"Could not delete namespaces: {string.Join("; ", failures)}");
    }

    /// <summary>HTB classes of DEV in NS, read from `tc -s class show` (iproute2 6.1 prints HTB classes as text even with -j).</summary>
    public static Dictionary<string, TcClass> Classes(string ns, string dev)
    {
        var text = MustRun("tc", "-n", ns, "-s", "class", "show", "dev", dev);
        var result = new Dictionary<string, TcClass>();
        foreach (var block in text.Split("\nclass ", StringSplitOptions.RemoveEmptyEntries))
        {
            var head = ClassLine().Match(block.StartsWith("class ", StringComparison.Ordinal) ? block : "class " + block);
            var sent = SentLine().Match(block);
            if (head.Success && sent.Success)
            {
                var id = head.Groups["id"].Value;
                result[id] = new TcClass(id, head.Groups["parent"].Success ? head.Groups["parent"].Value : null, head.Groups["rate"].Value, head.Groups["ceil"].Value,
                    long.Parse(sent.Groups["bytes"].Value), long.Parse(sent.Groups["packets"].Value));
            }
        }

        return result;
    }

    /// <summary>`nft -j list table inet TABLE` in NS, or null when there is no such table.</summary>
    public static JsonElement? NftTable(string ns, string table = "moat-shaping")
    {
        var (code, stdout, _) = Run("ip", "netns", "exec", ns, "nft", "-j", "list", "table", "inet", table);
        return code == 0 ? JsonDocument.Parse(stdout).RootElement.GetProperty("nftables") : null;
    }

    public static IReadOnlyList<string> NftChains(string ns) =>
        NftTable(ns) is { } t ? [.. t.EnumerateArray().Where(e => e.TryGetProperty("chain", out _)).Select(e => e.GetProperty("chain").GetProperty("name").GetString()!)] : [];

    /// <summary>The elements of map MAP as key -> jump target.</summary>
    public static Dictionary<string, string> NftMap(string ns, string map)
    {
        var result = new Dictionary<string, string>();
        if (NftTable(ns) is not { } t)
        {
            return result;
        }

        foreach (var m in t.EnumerateArray().Where(e => e.TryGetProperty("map", out var x) && x.GetProperty("name").GetString() == map))
        {
            if (m.GetProperty("map").TryGetProperty("elem", out var elements))
            {
                foreach (var e in elements.EnumerateArray())
                {
                    result[e[0].GetString()!] = e[1].GetProperty("jump").GetProperty("target").GetString()!;
                }
            }
        }

        return result;
    }

    /// <summary>The meta priority values the rules of chain CHAIN set, in order.</summary>
    public static IReadOnlyList<string> PrioritiesSetIn(string ns, string chain) =>
        NftTable(ns) is { } t
            ? [.. t.EnumerateArray()
                .Where(e => e.TryGetProperty("rule", out var r) && r.GetProperty("chain").GetString() == chain)
                .SelectMany(e => e.GetProperty("rule").GetProperty("expr").EnumerateArray())
                .Where(x => x.TryGetProperty("mangle", out _))
                .Select(x => x.GetProperty("mangle").GetProperty("value").GetString()!)]
            : [];

    public static (int Code, string Stdout, string Stderr) Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr);
    }

    public static string MustRun(string file, params string[] args)
    {
        var (code, stdout, stderr) = Run(file, args);
        return code == 0 ? stdout : throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {code}: {stderr}");
    }

    private void AddNamespace(string name)
    {
        MustRun("ip", "netns", "add", name);
        _namespaces.Add(name);
    }

    private void Build(int sandboxes)
    {
        AddNamespace(Host);
        AddNamespace(Net);
        MustRun("ip", "-n", Host, "link", "add", Uplink, "type", "veth", "peer", "name", "eth0", "netns", Net);
        MustRun("ip", "-n", Host, "addr", "add", "198.19.0.1/24", "dev", Uplink);
        MustRun("ip", "-n", Host, "link", "set", Uplink, "up");
        MustRun("ip", "-n", Host, "link", "set", "lo", "up");
        MustRun("ip", "-n", Net, "addr", "add", DataSource + "/24", "dev", "eth0");
        MustRun("ip", "-n", Net, "addr", "add", OtherNode + "/24", "dev", "eth0");
        MustRun("ip", "-n", Net, "link", "set", "eth0", "up");
        MustRun("ip", "-n", Net, "link", "set", "lo", "up");
        MustRun("ip", "-n", Net, "route", "add", "198.18.0.0/16", "via", "198.19.0.1");
        MustRun("ip", "netns", "exec", Host, "sysctl", "-qw", "net.ipv4.ip_forward=1");
        for (var i = 1; i <= sandboxes; i++)
        {
            AddNamespace(Sandbox(i));
            MustRun("ip", "-n", Host, "link", "add", Veth(i), "type", "veth", "peer", "name", "eth0", "netns", Sandbox(i));
            MustRun("ip", "-n", Host, "addr", "add", $"198.18.{i}.1/30", "dev", Veth(i));
            MustRun("ip", "-n", Host, "link", "set", Veth(i), "up");
            MustRun("ip", "-n", Sandbox(i), "addr", "add", $"198.18.{i}.2/30", "dev", "eth0");
            MustRun("ip", "-n", Sandbox(i), "link", "set", "eth0", "up");
            MustRun("ip", "-n", Sandbox(i), "link", "set", "lo", "up");
            MustRun("ip", "-n", Sandbox(i), "route", "add", "default", "via", $"198.18.{i}.1");
        }

        HostNamespace = NetworkNamespace.Open(Host);
    }

    [GeneratedRegex(@"^class htb (?<id>\S+) (?:root|parent (?<parent>\S+))[^\n]*? rate (?<rate>\S+) ceil (?<ceil>\S+)")]
    private static partial Regex ClassLine();

    [GeneratedRegex(@"Sent (?<bytes>\d+) bytes (?<packets>\d+) pkt")]
    private static partial Regex SentLine();
}

/// <summary>One HTB class as tc prints it (rates in tc's units, e.g. "50Mbit").</summary>
internal sealed record TcClass(string Id, string? Parent, string Rate, string Ceil, long Bytes, long Packets);
