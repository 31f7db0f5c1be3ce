// The host agent's watchers on live sandboxes (issue 5's benchmarks): time from a live nmap scan to the scanner
// being cut off, exec capture of N short-lived processes in a sandbox, and the cost of the exec monitor on an
// exec-heavy workload (agent with watchers on vs off, alternating in the same run).
// Usage: Moat.Watch.Bench [--execs N] [--rounds R]
// Each agent's host side is a namespace this program makes (mtw*), test hosts are 198.19.200.0/24 addresses in it.
using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Moat.Host.Agent;
using Moat.Host.Sandboxes;
using Moat.Host.Watch;
using Moat.Images.Store;
using Moat.Monitor;
using Moat.Monitor.Store;

[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

int Arg(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

int execs = Arg("--execs", 10_000);
int rounds = Arg("--rounds", 2);
var tag = Guid.NewGuid().ToString("N")[..6];
var images = Path.Combine(Path.GetTempPath(), "moat-wbench-images-" + tag);
await ImageStore.Open(images).BuildBusyboxAsync();
Console.WriteLine($"# Moat watch benchmarks — {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, kernel {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}, runtime runc");
Console.WriteLine($"# floor: fork+exec of /bin/true ≈ 0.6 ms (shared/peer-baselines.md)");

// 1. Scan to cut-off.
await using (var agent = await Agent.StartAsync(images, watch: true, tag + "s"))
{
    var s = await agent.Sandboxes.CreateAsync(SandboxSpec.Default with { Client = "mallory" });
    for (int i = 1; i <= 32; i++)
    {
        await Sh("ip", "-n", agent.HostNs, "addr", "add", $"198.19.200.{i}/32", "dev", "lo");
    }

    var (nftCode, nftOut) = await Sh("ip", "netns", "exec", agent.HostNs, "nft", "add table inet wb; add chain inet wb input { type filter hook input priority 0; }; add rule inet wb input ip daddr 198.19.200.0/24 tcp flags & (syn | ack) == syn counter");
    if (nftCode != 0)
    {
        throw new InvalidOperationException(nftOut);
    }
    var watch = agent.Watch;
    var started = DateTimeOffset.UtcNow;
    var sw = Stopwatch.StartNew();
    // nmap runs in the sandbox's network namespace (the busybox image has no nmap): the network sees exactly a sandbox scanning.
    var nmap = Process.Start(new ProcessStartInfo("ip", ["netns", "exec", s.Netns, "nmap", "-sT", "-Pn", "-n", "--max-retries", "0", "-p", "9,13,17", "198.19.200.1-32"])
    { RedirectStandardOutput = true, RedirectStandardError = true })!;
    ResponseView? cut = null;
    while (cut is null && sw.Elapsed < TimeSpan.FromSeconds(60))
    {
        cut = (await watch.AlertsAsync(s.Id, 100)).Responses.FirstOrDefault(r => r.Action == "quarantine");
        await Task.Delay(2);
    }

    await nmap.WaitForExitAsync();
    var report = await watch.AlertsAsync(s.Id, 100);
    var alert = report.Network.FirstOrDefault(a => cut is not null && a.Id == cut.AlertId);
    var (_, counters) = await Sh("sh", "-c", $"ip netns exec {agent.HostNs} nft list table inet wb | grep -o 'packets [0-9]*'");
    Console.WriteLine();
    Console.WriteLine("## Live scan → quarantine (nmap -sT, 3 ports × 32 closed hosts, untrusted sandbox)");
    Console.WriteLine(cut is null
        ? "  not quarantined within 60 s"
        : $"  nmap start → quarantine applied: {(cut.AppliedAt - started).TotalMilliseconds:F1} ms; alert ({alert?.Detector}) → applied: {(alert is null ? double.NaN : (cut.AppliedAt - alert.Time).TotalMilliseconds):F2} ms; SYNs that reached the hosts: {counters.Trim()} (of 96 probes)");
}

// 2 + 3. Exec capture and overhead, watchers off / on alternating.
var on = new List<double>();
var off = new List<double>();
string capture = "";
for (int round = 0; round < rounds; round++)
{
    foreach (bool enabled in new[] { false, true })
    {
        await using var agent = await Agent.StartAsync(images, enabled, $"{tag}{round}{(enabled ? "n" : "f")}");
        var s = await agent.Sandboxes.CreateAsync(SandboxSpec.Default with { Client = "bench" });
        if (enabled)
        {
            var deadline = Stopwatch.StartNew();
            while (!agent.Watch.Status().ExecWatched.Contains(s.Id) && deadline.Elapsed < TimeSpan.FromSeconds(30))
            {
                await Task.Delay(10);
            }
        }

        var workloadStart = DateTimeOffset.UtcNow;
        var sw = Stopwatch.StartNew();
        var r = await agent.Sandboxes.ExecAsync(s.Id, ["sh", "-c", $"i=0; while [ $i -lt {execs} ]; do /bin/true; i=$((i+1)); done"], null, TimeSpan.FromMinutes(10));
        double seconds = sw.Elapsed.TotalSeconds;
        if (r.ExitCode != 0)
        {
            throw new InvalidOperationException($"workload failed: {r.Stderr}");
        }

        (enabled ? on : off).Add(seconds);
        if (enabled && round == 0)
        {
            // Wait until the recorder has written everything the monitor produced.
            var db = Path.Combine(agent.State, "monitor.db");
            List<ExecRecord> records = [];
            var settle = Stopwatch.StartNew();
            int last = -1;
            while (settle.Elapsed < TimeSpan.FromSeconds(120))
            {
                await using (var store = await SqliteMonitorStore.OpenAsync(db))
                {
                    // The sandbox's tenant execs since the workload began, but the workload's own shell: the /bin/true
                    // processes. Most have exited before /proc is read, so they carry no argv: they are counted by what
                    // the monitor knows without /proc (sandbox, pid, executed file), not by their command line.
                    records = [.. (await store.EventsAsync(new MonitorQuery(s.Id, workloadStart, 1_000_000))).OfType<ExecRecord>()
                        .Where(x => x.Runtime is null && !(x.Argv.Count > 0 && x.Argv[0] == "sh"))];
                }

                if (records.Count == last)
                {
                    break;
                }

                last = records.Count;
                await Task.Delay(500);
            }

            int hashed = records.Count(x => x.Sha256 is not null && x.Path is not null);
            int withArgv = records.Count(x => x.Argv.Count > 0);
            int notTrue = records.Count(x => x.Path != "/bin/busybox");
            var byStatus = string.Join(", ", records.GroupBy(x => x.Verification).OrderBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}"));
            capture = $"  observed {records.Count}/{execs} ({100.0 * records.Count / execs:F2} %), identified (path + SHA-256 of the executed file) {hashed}/{execs} ({100.0 * hashed / execs:F2} %); {byStatus}; "
                + $"with argv (process still alive when read) {withArgv}; records of another file than /bin/busybox {notTrue}";
        }
    }
}

Console.WriteLine();
Console.WriteLine($"## Exec capture ({execs} × /bin/true in one sandbox, watchers on)");
Console.WriteLine(capture);
Console.WriteLine();
Console.WriteLine($"## Overhead on the exec-heavy workload ({execs} × /bin/true), agents alternating off/on, {rounds} rounds");
Console.WriteLine($"  off: {string.Join(" ", off.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))} s (median {Median(off):F2}); on: {string.Join(" ", on.Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))} s (median {Median(on):F2})");
Console.WriteLine($"  overhead (medians): {100 * (Median(on) / Median(off) - 1):F1} %; per exec off {1000 * Median(off) / execs:F3} ms, on {1000 * Median(on) / execs:F3} ms");
Directory.Delete(images, recursive: true);

static double Median(List<double> xs)
{
    var s = xs.Order().ToList();
    return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
}

static async Task<(int Code, string Out)> Sh(params string[] args)
{
    var psi = new ProcessStartInfo(args[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
    foreach (var a in args.Skip(1))
    {
        psi.ArgumentList.Add(a);
    }

    using var p = Process.Start(psi)!;
    var output = p.StandardOutput.ReadToEndAsync();
    var error = p.StandardError.ReadToEndAsync();
    await p.WaitForExitAsync();
    return (p.ExitCode, await output + await error);
}

/// <summary>One agent in its own state folder and host namespace; disposing removes its sandboxes and namespace.</summary>
internal sealed class Agent : IAsyncDisposable
{
    private readonly WebApplication _app;

    private Agent(WebApplication app, string state, string hostNs)
    {
        _app = app;
        State = state;
        HostNs = hostNs;
    }

    public string State { get; }

    public string HostNs { get; }

    public SandboxService Sandboxes => _app.Services.GetRequiredService<SandboxService>();

    public WatchService Watch => _app.Services.GetRequiredService<WatchService>();

    public static async Task<Agent> StartAsync(string images, bool watch, string tag)
    {
        var state = Path.Combine(Path.GetTempPath(), "moat-wbench-" + tag);
        var hostNs = "mtw" + tag;
        Directory.CreateDirectory(state);
        File.CreateSymbolicLink(Path.Combine(state, "images"), images);
        Process.Start("ip", ["netns", "add", hostNs]).WaitForExit();
        Process.Start("ip", ["-n", hostNs, "link", "set", "lo", "up"]).WaitForExit();
        var options = new HostAgentOptions
        {
            StateDir = state,
            HostNamespace = hostNs,
            AddressPool = "198.19.4.0/24",
            Tiers = TierOptions.Default with
            {
                ClientTrust = new Dictionary<string, string> { ["mallory"] = TierOptions.Untrusted },
                ClientTier = new Dictionary<string, RuntimeTier> { ["mallory"] = RuntimeTier.Container },
            },
            Watch = WatchOptions.Default with { Enabled = watch },
        };
        var app = await HostAgent.BuildAsync(options, dir => new BenchImages(ImageStore.Open(Path.Combine(dir, "images"))));
        await app.StartAsync();
        return new Agent(app, app.Services.GetRequiredService<HostAgentOptions>().StateDir, hostNs);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var s in Sandboxes.List())
        {
            await Sandboxes.DestroyAsync(s.Id);
        }

        await _app.StopAsync();
        await _app.DisposeAsync();
        Process.Start("ip", ["netns", "del", HostNs]).WaitForExit();
        Directory.Delete(State, recursive: true);
    }
}

/// <summary>The agent's view of the bench's image store (as the CLI's ImageCatalog, without the CLI).</summary>
internal sealed class BenchImages(ImageStore store) : IImageCatalog
{
    public ResolvedImage Resolve(string reference)
    {
        var image = store.Resolve(reference) ?? throw new Moat.Host.InvalidRequestException($"image '{reference}' is not in the bench's store.", notFound: true);
        return new ResolvedImage(image.Digest, store.RootfsPath(image), image.Config.Env, [.. image.Config.Entrypoint, .. image.Config.Cmd]);
    }
}
