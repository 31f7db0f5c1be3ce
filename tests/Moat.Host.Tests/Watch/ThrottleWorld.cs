using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Moat.Host.Watch.Throttle;
using Moat.Linux.Nftables;
using Moat.Linux.Namespaces;

namespace Moat.Host.Tests.Watch;

/// <summary>
/// A host namespace routing between two "sandboxes" (each a namespace on a veth whose host end the throttle keys on)
/// and a target namespace holding 198.18.91.2-33, all in 198.18.0.0/15: the scanner 198.18.90.2 (host end mtt…a), its
/// neighbour 198.18.90.6 (host end mtt…b). The target answers TCP 22, 80, 443 and UDP 53 and records every distinct
/// (address, protocol, port) that reached it from the scanner in an nftables set.
/// </summary>
internal sealed class ThrottleWorld : IAsyncDisposable
{
    /// <summary>The tests that build this world share its namespace names, so they run one at a time.</summary>
    internal const string Collection = "throttle world";

    internal const string Scanner = "198.18.90.2";
    internal const string Neighbour = "198.18.90.6";
    internal const string Target = "198.18.91.2";

    private readonly string _suffix = (Environment.ProcessId % 100_000).ToString(CultureInfo.InvariantCulture);
    private Process? _listeners;

    internal string Host => "mtth" + _suffix;

    internal string Sandbox => "mtts" + _suffix;

    internal string Peer => "mttn" + _suffix;

    internal string World => "mttw" + _suffix;

    internal string SandboxInterface => "mtt" + _suffix + "a";

    internal string PeerInterface => "mtt" + _suffix + "b";

    internal static async Task<ThrottleWorld> CreateAsync(ScanThrottleOptions? throttle)
    {
        var w = new ThrottleWorld();
        try
        {
            await w.BuildAsync(throttle);
            return w;
        }
        catch
        {
            await w.DisposeAsync();
            throw;
        }
    }

    private async Task BuildAsync(ScanThrottleOptions? throttle)
    {
        await CleanAsync();
        foreach (var ns in new[] { Host, Sandbox, Peer, World })
        {
            await RunAsync("ip", "netns", "add", ns);
            await RunAsync("ip", "-n", ns, "link", "set", "lo", "up");
        }

        await RunAsync("ip", "-n", Host, "link", "add", SandboxInterface, "type", "veth", "peer", "name", "eth0", "netns", Sandbox);
        await RunAsync("ip", "-n", Host, "link", "add", PeerInterface, "type", "veth", "peer", "name", "eth0", "netns", Peer);
        await RunAsync("ip", "-n", Host, "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", World);
        await RunAsync("ip", "-n", Host, "addr", "add", "198.18.90.1/30", "dev", SandboxInterface);
        await RunAsync("ip", "-n", Host, "addr", "add", "198.18.90.5/30", "dev", PeerInterface);
        await RunAsync("ip", "-n", Host, "addr", "add", "198.18.91.1/24", "dev", "up0");
        await RunAsync("ip", "-n", Sandbox, "addr", "add", $"{Scanner}/30", "dev", "eth0");
        await RunAsync("ip", "-n", Peer, "addr", "add", $"{Neighbour}/30", "dev", "eth0");
        for (int i = 2; i <= 33; i++)
        {
            await RunAsync("ip", "-n", World, "addr", "add", $"198.18.91.{i}/24", "dev", "eth0");
        }

        foreach (var (ns, dev) in new[] { (Host, SandboxInterface), (Host, PeerInterface), (Host, "up0"), (Sandbox, "eth0"), (Peer, "eth0"), (World, "eth0") })
        {
            await RunAsync("ip", "-n", ns, "link", "set", dev, "up");
        }

        await RunAsync("ip", "-n", Sandbox, "route", "add", "default", "via", "198.18.90.1");
        await RunAsync("ip", "-n", Peer, "route", "add", "default", "via", "198.18.90.5");
        await RunAsync("ip", "-n", World, "route", "add", "198.18.90.0/24", "via", "198.18.91.1");
        await RunAsync("ip", "netns", "exec", Host, "sysctl", "-qw", "net.ipv4.ip_forward=1");
        await RunWithInputAsync($$"""
            table inet seen {
              set probes { type ipv4_addr . inet_proto . inet_service; flags dynamic; size 65535; }
              chain pre { type filter hook prerouting priority -300; policy accept;
                ip saddr {{Scanner}} meta l4proto { tcp, udp } add @probes { ip daddr . meta l4proto . th dport }
              }
            }
            """, "ip", "netns", "exec", World, "nft", "-f", "-");
        _listeners = Process.Start(new ProcessStartInfo("ip", ["netns", "exec", World, "python3", "-c", """
            import socket, threading
            def tcp(p):
                s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", p)); s.listen(512)
                while True:
                    c, _ = s.accept(); c.close()
            def udp(p):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", p))
                while True:
                    d, a = s.recvfrom(2048); s.sendto(d or b"x", a)
            for p in (22, 80, 443): threading.Thread(target=tcp, args=(p,), daemon=True).start()
            threading.Thread(target=udp, args=(53,), daemon=True).start()
            print("ready", flush=True)
            threading.Event().wait()
            """]) { RedirectStandardOutput = true })!;
        await _listeners.StandardOutput.ReadLineAsync();
        if (throttle is not null)
        {
            using var ns = NetworkNamespace.Open(Host);
            using var socket = NftSocket.OpenIn(ns);
            var t = ScanThrottleRules.Install(new NftTransaction());
            ScanThrottleRules.AddSandbox(t, "s" + _suffix, SandboxInterface, throttle);
            ScanThrottleRules.AddSandbox(t, "n" + _suffix, PeerInterface, throttle);
            socket.Commit(t);
        }
    }

    internal string SandboxId => "s" + _suffix;

    /// <summary>Runs a command in the scanner's namespace and returns its standard output.</summary>
    internal Task<string> InSandboxAsync(params string[] command) => RunAsync(["ip", "netns", "exec", Sandbox, .. command]);

    internal Task<string> InPeerAsync(string? input, params string[] command) => RunWithInputAsync(input, ["ip", "netns", "exec", Peer, .. command]);

    /// <summary>Distinct (address, protocol, port) probes of the scanner that reached the target namespace.</summary>
    internal async Task<int> ProbesReachedAsync() => await CountElementsAsync(World, "seen", "probes");

    /// <summary>Elements of one of the throttle's sets in the host namespace.</summary>
    internal Task<int> ThrottleSetSizeAsync(string set) => CountElementsAsync(Host, ScanThrottleRules.Table, set);

    /// <summary>Packets the throttle dropped on the way out of the scanner (the counters of its drop rules).</summary>
    internal async Task<long> DroppedAsync()
    {
        using var doc = JsonDocument.Parse(await RunAsync("ip", "netns", "exec", Host, "nft", "-j", "list", "chain", "inet", ScanThrottleRules.Table, "o_" + SandboxId));
        long dropped = 0;
        foreach (var item in doc.RootElement.GetProperty("nftables").EnumerateArray())
        {
            if (!item.TryGetProperty("rule", out var rule))
            {
                continue;
            }

            long packets = 0;
            bool drops = false;
            foreach (var expr in rule.GetProperty("expr").EnumerateArray())
            {
                packets += expr.TryGetProperty("counter", out var c) ? c.GetProperty("packets").GetInt64() : 0;
                drops |= expr.TryGetProperty("drop", out _);
            }

            dropped += drops ? packets : 0;
        }

        return dropped;
    }

    private static async Task<int> CountElementsAsync(string ns, string table, string set)
    {
        using var doc = JsonDocument.Parse(await RunAsync("ip", "netns", "exec", ns, "nft", "-j", "list", "set", "inet", table, set));
        foreach (var item in doc.RootElement.GetProperty("nftables").EnumerateArray())
        {
            if (item.TryGetProperty("set", out var s))
            {
                return s.TryGetProperty("elem", out var elements) ? elements.GetArrayLength() : 0;
            }
        }

        throw new InvalidOperationException($"nft listed no set {table} {set} in {ns}.");
    }

    public async ValueTask DisposeAsync()
    {
        if (_listeners is { HasExited: false })
        {
            _listeners.Kill(entireProcessTree: true);
            await _listeners.WaitForExitAsync();
        }

        _listeners?.Dispose();
        await CleanAsync();
    }

    private async Task CleanAsync()
    {
        foreach (var ns in new[] { Host, Sandbox, Peer, World })
        {
            await RunAllowFailureAsync("ip", "netns", "del", ns);
        }
    }

    internal static Task<string> RunAsync(params string[] args) => RunWithInputAsync(null, args);

    private static async Task RunAllowFailureAsync(params string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(args[0], args[1..]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        await p.WaitForExitAsync();
    }

    private static async Task<string> RunWithInputAsync(string? input, params string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(args[0], args[1..])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            RedirectStandardInput = input is not null,
        })!;
        if (input is not null)
        {
            await p.StandardInput.WriteAsync(input);
            p.StandardInput.Close();
        }

        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{string.Join(' ', args)} exited {p.ExitCode}: {await error}");
        }

        return await output;
    }
}
