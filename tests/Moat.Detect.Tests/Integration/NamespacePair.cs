using System.Diagnostics;

namespace Moat.Detect.Tests.Integration;

/// <summary>Two network namespaces joined by a veth pair: a client (198.19.252.1) and a server holding 198.19.252.2-9 with nothing listening.</summary>
public sealed class NamespacePair : IAsyncLifetime
{
    internal const string ClientAddress = "198.19.252.1";

    public NamespacePair()
    {
        string suffix = (Environment.ProcessId % 100_000).ToString(System.Globalization.CultureInfo.InvariantCulture);
        Client = "mtdc" + suffix;
        Server = "mtds" + suffix;
    }

    public string Client { get; }

    public string Server { get; }

    public string ClientPath => $"/var/run/netns/{Client}";

    public static IEnumerable<string> ServerAddresses => Enumerable.Range(2, 8).Select(i => $"198.19.252.{i}");

    public async Task InitializeAsync()
    {
        await DisposeAsync();
        await RunAsync("ip", "netns", "add", Client);
        await RunAsync("ip", "netns", "add", Server);
        await RunAsync("ip", "-n", Client, "link", "add", "mtdv0", "type", "veth", "peer", "name", "mtdv1", "netns", Server);
        await RunAsync("ip", "-n", Client, "addr", "add", $"{ClientAddress}/24", "dev", "mtdv0");
        await RunAsync("ip", "-n", Client, "link", "set", "mtdv0", "up");
        await RunAsync("ip", "-n", Client, "link", "set", "lo", "up");
        foreach (var address in ServerAddresses)
        {
            await RunAsync("ip", "-n", Server, "addr", "add", $"{address}/24", "dev", "mtdv1");
        }

        await RunAsync("ip", "-n", Server, "link", "set", "mtdv1", "up");
        await RunAsync("ip", "-n", Server, "link", "set", "lo", "up");
        await RunAsync("ip", "netns", "exec", Client, "sysctl", "-qw", "net.netfilter.nf_conntrack_acct=1");
    }

    public async Task DisposeAsync()
    {
        await RunAsync(allowFailure: true, "ip", "netns", "del", Client);
        await RunAsync(allowFailure: true, "ip", "netns", "del", Server);
    }

    /// <summary>Loads an nftables ruleset into the client namespace (one transaction).</summary>
    internal Task LoadClientRulesAsync(string ruleset) => RunWithInputAsync(false, ruleset, "ip", "netns", "exec", Client, "nft", "-f", "-");

    /// <summary>TCP connects from the client namespace to each address; nothing listens, so each is refused.</summary>
    internal Task ConnectFromClientAsync(IEnumerable<string> addresses, int port)
    {
        string script = string.Join("; ", addresses.Select(a => $"(exec 3<>/dev/tcp/{a}/{port}) 2>/dev/null"));
        return RunAsync(allowFailure: true, "ip", "netns", "exec", Client, "bash", "-c", script);
    }

    /// <summary>Runs iptables in the client namespace (for the NFQUEUE target: this kernel has no nft "queue" expression).</summary>
    internal Task ClientIptablesAsync(params string[] args) => RunAsync(["ip", "netns", "exec", Client, "iptables", .. args]);

    /// <summary>For each address, TCP connects from the client with a 1 s limit and reports bash's status: 1 refused, 124 timed out (dropped).</summary>
    internal async Task<string> ConnectOutcomesFromClientAsync(IEnumerable<string> addresses, int port)
    {
        string script = string.Join("; ", addresses.Select(a => $"timeout 1 bash -c 'exec 3<>/dev/tcp/{a}/{port}' 2>/dev/null; echo -n \"$? \""));
        return (await RunWithInputAsync(true, null, "ip", "netns", "exec", Client, "bash", "-c", script)).Trim();
    }

    internal static Task RunAsync(params string[] args) => RunAsync(false, args);

    internal static Task RunAsync(bool allowFailure, params string[] args) => RunWithInputAsync(allowFailure, null, args);

    private static async Task<string> RunWithInputAsync(bool allowFailure, string? input, params string[] args)
    {
        var start = new ProcessStartInfo(args[0], args[1..])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            RedirectStandardInput = input is not null,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {args[0]}.");
        if (input is not null)
        {
            await process.StandardInput.WriteAsync(input);
            process.StandardInput.Close();
        }

        var stdout = process.StandardOutput.ReadToEndAsync();
        string stderr = await process.StandardError.ReadToEndAsync();
        string output = await stdout;
        await process.WaitForExitAsync();
        if (process.ExitCode != 0 && !allowFailure)
        {
            throw new InvalidOperationException($"{string.Join(' ', args)} exited with {process.ExitCode}: {stderr}");
        }

        return output;
    }
}
