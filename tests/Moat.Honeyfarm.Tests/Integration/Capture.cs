using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Moat.Honeyfarm.Tests.Integration;

/// <summary>tcpdump in a namespace, one text line per packet; started when it says it listens, stopped by SIGINT.</summary>
internal sealed partial class Capture : IAsyncDisposable
{
    /// <summary>A TCP packet line of tcpdump -n, e.g. "IP 198.18.200.7.22 > 198.18.96.2.61423: Flags [S.], seq ...".</summary>
    [GeneratedRegex(@"IP (?<src>[\d.]+)\.\d+ > (?<dst>\d+\.\d+\.\d+\.\d+)\.\d+: Flags \[(?<flags>[^\]]+)\]")]
    public static partial Regex Packet();

    private readonly Process _process;
    private readonly List<string> _lines = [];
    private readonly Task _reader;

    private Capture(Process process)
    {
        _process = process;
        _reader = Task.Run(async () =>
        {
            while (await process.StandardOutput.ReadLineAsync() is { } line)
            {
                if (line.Length == 0)
                {
                    continue; // tcpdump's blank line on exit
                }

                lock (_lines)
                {
                    _lines.Add(line);
                }
            }
        });
    }

    public static async Task<Capture> StartAsync(string ns, string device, string filter)
    {
        var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "netns", "exec", ns, "tcpdump", "-l", "-n", "-i", device, filter })
        {
            psi.ArgumentList.Add(a);
        }

        var process = Process.Start(psi)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (await process.StandardError.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.Contains("listening on", StringComparison.Ordinal))
            {
                return new Capture(process);
            }
        }

        process.Kill();
        throw new InvalidOperationException("tcpdump ended before it listened");
    }

    public async Task<IReadOnlyList<string>> StopAsync()
    {
        await SweepTests.RunAsync("kill", "-INT", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await _process.WaitForExitAsync();
        await _reader;
        lock (_lines)
        {
            return [.. _lines];
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
