using System.Diagnostics;
using System.Net;
using Moat.Containment.Tests.Rules;

namespace Moat.Containment.Tests.Resolver;

/// <summary>
/// A real dnsmasq (Debian's dnsmasq-base) in a test namespace: the upstream resolver of the integration tests, serving
/// only the names the test gives it (no /etc/hosts, no resolv.conf, no other upstream). Disposing stops it.
/// </summary>
internal sealed class DnsmasqServer : IDisposable
{
    private readonly Process _process;

    private DnsmasqServer(Process process, IPEndPoint endpoint, string ns)
    {
        _process = process;
        Endpoint = endpoint;
        Namespace = ns;
    }

    public IPEndPoint Endpoint { get; }

    public string Namespace { get; }

    /// <param name="records">name, address, TTL in seconds.</param>
    /// <param name="wildcards">domain and address: every name under the domain answers with it.</param>
    public static async Task<DnsmasqServer> StartAsync(string ns, IPEndPoint endpoint, IEnumerable<(string Name, IPAddress Address, int Ttl)> records, IEnumerable<(string Domain, IPAddress Address)>? wildcards = null)
    {
        var args = new List<string>
        {
            "netns", "exec", ns, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--pid-file=",
            "--bind-interfaces", $"--listen-address={endpoint.Address}", $"--port={endpoint.Port}", "--user=root", "--group=root",
        };
        args.AddRange(records.Select(r => $"--host-record={r.Name},{r.Address},{r.Ttl}"));
        args.AddRange((wildcards ?? []).Select(w => $"--address=/{w.Domain}/{w.Address}"));
        var process = Process.Start(new ProcessStartInfo("ip", args) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        var server = new DnsmasqServer(process, endpoint, ns);
        try
        {
            // Ready when it answers: asked with dig, a bounded number of times, each with its own timeout.
            for (var attempt = 0; attempt < 50; attempt++)
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"dnsmasq exited ({process.ExitCode}): {await process.StandardError.ReadToEndAsync()}");
                }

                var (_, output) = await Dig.RunAsync(ns, endpoint, records.First().Name);
                if (output.Contains("status: NOERROR", StringComparison.Ordinal))
                {
                    return server;
                }
            }

            throw new InvalidOperationException("dnsmasq did not answer within 50 tries.");
        }
        catch
        {
            server.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process.Dispose();
    }
}

/// <summary>dig (bind9-dnsutils) run inside a namespace: a real stub client, independent of Moat's DNS code.</summary>
internal static class Dig
{
    public static async Task<(int ExitCode, string Output)> RunAsync(string ns, IPEndPoint server, string name, params string[] extra)
    {
        string[] args = ["netns", "exec", ns, "dig", $"@{server.Address}", "-p", server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), name, "A", "+time=2", "+tries=1", .. extra];
        using var process = Process.Start(new ProcessStartInfo("ip", args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output + await error);
    }

    /// <summary>The status dig reports ("NOERROR", "REFUSED", ...), or "timeout" when no answer came.</summary>
    public static string Status(string output)
    {
        const string marker = "status: ";
        var at = output.IndexOf(marker, StringComparison.Ordinal);
        return at < 0 ? "timeout" : output[(at + marker.Length)..].Split(',')[0];
    }

    /// <summary>The addresses of the ANSWER section's A records.</summary>
    public static IReadOnlyList<IPAddress> Addresses(string output) =>
        output.Split('\n')
            .Where(l => !l.StartsWith(';') && l.Contains("\tA\t", StringComparison.Ordinal))
            .Select(l => IPAddress.Parse(l.Split('\t', StringSplitOptions.RemoveEmptyEntries)[^1].Trim()))
            .ToList();
}
