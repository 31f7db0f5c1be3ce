// Sandbox latency, density and churn on this host (issue 2's benchmarks), with the bare OCI runtime measured in the
// same run. Usage: Moat.Host.Bench [latency|density|churn|all] [--runs N] [--density N] [--cycles N]
// Every sandbox's host side lives in a namespace this program makes (mtb*), so nothing reaches the machine's uplink.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Moat.Cli.Composition;
using Moat.Host.Agent;
using Moat.Host.Pool;
using Moat.Host.Sandboxes;
using Moat.Images.Store;

[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine("""
        Moat.Host.Bench [latency|density|churn|all|tiers|scale] [--runs N] [--density N] [--cycles N]
          latency   create-to-running p50/p99 over --runs (200): floor, bare runc, by hand, Moat cold, Moat warm claim
          density   start --density (1000) idle sandboxes, report host memory each, exec into one, destroy all
          churn     --cycles (1000) create/destroy cycles, then count what was left behind
          all       the three above in one run (default)
          tiers     container vs gvisor tier side by side
          scale     create/destroy p50 and work counted per create with --levels (0,1000) sandboxes loaded, --probe (20) each
        Run as root from the repository root; figures go to stdout as Markdown tables.
        """);
    return;
}

var mode = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal)) ?? "all";
if (mode is not ("latency" or "density" or "churn" or "all" or "tiers" or "scale"))
{
    Console.Error.WriteLine($"unknown mode '{mode}'; see --help");
    Environment.Exit(2);
}

if (mode == "tiers") { await TierBench.RunAsync(args); return; } // runtime tiers side by side: Tiers.cs
if (mode == "scale") { await ScaleBench.RunAsync(args); return; } // per-sandbox cost by host load: Scale.cs
int Arg(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

var runs = Arg("--runs", 200);
var density = Arg("--density", 1000);
var cycles = Arg("--cycles", 1000);
var tag = Guid.NewGuid().ToString("N")[..6];
var state = Path.Combine(Path.GetTempPath(), "moat-bench-" + tag);
var hostNs = "mtb" + tag;
Directory.CreateDirectory(state);
await Sh("ip", "netns", "add", hostNs);
var images = ImageStore.Open(Path.Combine(state, "images"));
await images.BuildBusyboxAsync();
var options = new HostAgentOptions
{
    StateDir = state,
    HostNamespace = hostNs,
    AddressPool = "198.19.128.0/17",
    Pool = new Dictionary<string, int> { ["busybox"] = 0 },
};
var app = await HostAgent.BuildAsync(options, ImageCatalog.ForStateDir);
await app.StartAsync();
var sandboxes = app.Services.GetRequiredService<SandboxService>();
Console.WriteLine($"# Moat host benchmarks — {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, kernel {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}, runtime runc");
try
{
    if (mode is "latency" or "all")
    {
        await Latency();
    }

    if (mode is "density" or "all")
    {
        await Density();
    }

    if (mode is "churn" or "all")
    {
        await Churn();
    }
}
finally
{
    foreach (var s in sandboxes.List())
    {
        await sandboxes.DestroyAsync(s.Id);
    }

    await app.DisposeAsync();
    var peerRoot = Path.Combine(state, "peer-runc");
    await Sh("sh", "-c", $"runc --root {peerRoot} delete --force peer; runc --root {peerRoot} delete --force hand; umount {state}/hand/m; ip netns del mtbhand");
    await Sh("ip", "netns", "del", hostNs);
    Directory.Delete(state, recursive: true);
}

async Task Latency()
{
    // Floor: fork+exec of a trivial program, measured now.
    var floor = new List<double>();
    for (var i = 0; i < 50; i++)
    {
        var sw = Stopwatch.StartNew();
        await Sh("/bin/true");
        floor.Add(sw.Elapsed.TotalMilliseconds);
    }

    // Moat cold create: netns + veth + /32 + overlay + bundle + runc run, all limits and seccomp.
    var cold = new List<double>();
    for (var i = 0; i < runs; i++)
    {
        var sw = Stopwatch.StartNew();
        var s = await sandboxes.CreateAsync(SandboxSpec.Default);
        cold.Add(sw.Elapsed.TotalMilliseconds);
        await sandboxes.DestroyAsync(s.Id);
    }

    // Moat warm claim: the pool is refilled between batches, outside the timing.
    var pool = new WarmPool(sandboxes, app.Services.GetRequiredService<IImageCatalog>(),
        new Dictionary<string, int> { ["busybox"] = 25 }, app.Services.GetRequiredService<Microsoft.Extensions.Logging.ILogger<WarmPool>>());
    var warm = new List<double>();
    while (warm.Count < runs)
    {
        await pool.FillAsync();
        var claimed = new List<string>();
        for (var i = 0; i < 25 && warm.Count < runs; i++)
        {
            var sw = Stopwatch.StartNew();
            var (s, fromPool) = await sandboxes.ClaimAsync(SandboxSpec.Default);
            warm.Add(sw.Elapsed.TotalMilliseconds);
            if (!fromPool)
            {
                throw new InvalidOperationException("claim did not come from the pool");
            }

            claimed.Add(s.Id);
        }

        foreach (var id in claimed)
        {
            await sandboxes.DestroyAsync(id);
        }
    }

    foreach (var s in sandboxes.List())
    {
        await sandboxes.DestroyAsync(s.Id);
    }

    // Peer 1: bare runc run -d of the same rootfs (read-only, no overlay), new empty netns, no limits; then delete.
    var rootfs = images.RootfsPath(images.Get("busybox"));
    var peerDir = Path.Combine(state, "peer");
    Directory.CreateDirectory(peerDir);
    await Sh("runc", "spec", "--bundle", peerDir);
    var spec = JsonNode.Parse(File.ReadAllText(Path.Combine(peerDir, "config.json")))!;
    spec["root"]!["path"] = rootfs;
    spec["process"]!["args"] = new JsonArray("/bin/sleep", "3600");
    spec["process"]!["terminal"] = false;
    File.WriteAllText(Path.Combine(peerDir, "config.json"), spec.ToJsonString());
    var runcRoot = Path.Combine(state, "peer-runc");
    var bare = new List<double>();
    for (var i = 0; i < runs; i++)
    {
        var sw = Stopwatch.StartNew();
        // The container inherits runc's stdio; like Moat's own runtime driver, send it to a file so no pipe stays open.
        await ShChecked("sh", "-c", $"exec runc --root {runcRoot} run -d -b {peerDir} peer >>{peerDir}/console.log 2>&1");
        bare.Add(sw.Elapsed.TotalMilliseconds);
        await ShChecked("runc", "--root", runcRoot, "delete", "--force", "peer");
    }

    // Peer 2: the same work as a Moat create done by hand with the tools: netns + veth via ip -batch (peer made in the
    // netns), overlay mount, runc run -d joining the netns.
    var handDir = Path.Combine(state, "hand");
    Directory.CreateDirectory(handDir);
    var hand = new List<double>();
    var handSpec = spec.DeepClone();
    handSpec["root"]!["path"] = Path.Combine(handDir, "m");
    handSpec["root"]!["readonly"] = false;
    foreach (var ns in handSpec["linux"]!["namespaces"]!.AsArray())
    {
        if ((string)ns!["type"]! == "network")
        {
            ns["path"] = "/run/netns/mtbhand";
        }
    }

    File.WriteAllText(Path.Combine(handDir, "config.json"), handSpec.ToJsonString());
    for (var i = 0; i < runs; i++)
    {
        var sw = Stopwatch.StartNew();
        await ShChecked("sh", "-c", $"""
            set -e
            ip netns add mtbhand
            ip -n {hostNs} -batch - <<B
            link add mtbh type veth peer name eth0 netns mtbhand
            addr add 169.254.1.1/32 dev mtbh
            link set mtbh up
            route add 198.19.0.9/32 dev mtbh scope link
            B
            ip -n mtbhand -batch - <<B
            link set lo up
            link set eth0 up
            addr add 198.19.0.9/32 dev eth0
            route add 169.254.1.1/32 dev eth0 scope link
            route add default via 169.254.1.1 dev eth0 onlink
            B
            mkdir -p {handDir}/u {handDir}/w {handDir}/m
            mount -t overlay hand -o lowerdir={rootfs},upperdir={handDir}/u,workdir={handDir}/w {handDir}/m
            runc --root {runcRoot} run -d -b {handDir} hand >>{handDir}/console.log 2>&1
            """);
        hand.Add(sw.Elapsed.TotalMilliseconds);
        await ShChecked("sh", "-c", $"runc --root {runcRoot} delete --force hand; umount {handDir}/m; rm -rf {handDir}/u {handDir}/w; ip -n {hostNs} link del mtbh; ip netns del mtbhand");
    }

    Console.WriteLine();
    Console.WriteLine($"## Create-to-running latency ({runs} runs each, same run)");
    Console.WriteLine();
    Console.WriteLine("| what | p50 ms | p99 ms | p50 vs bare runc |");
    Console.WriteLine("|---|---:|---:|---:|");
    var b50 = P(bare, 50);
    Row("floor: fork+exec /bin/true", floor, b50);
    Row("bare `runc run -d` (no overlay, no veth, no limits)", bare, b50);
    Row("same work by hand: `ip -batch` + overlay mount + `runc run -d`", hand, b50);
    Row("Moat cold create (netns, veth, /32, overlay, limits, seccomp)", cold, b50);
    Row("Moat warm claim (from the pool)", warm, b50);
}

async Task Density()
{
    var before = MemAvailable();
    var sw = Stopwatch.StartNew();
    var made = 0;
    string? failure = null;
    for (; made < density; made++)
    {
        try
        {
            await sandboxes.CreateAsync(SandboxSpec.Default with { MemoryBytes = 64 * SandboxSpec.MiB, Volume = false });
        }
        catch (Exception e)
        {
            failure = e.Message;
            break;
        }
    }

    var startAll = sw.Elapsed.TotalSeconds;
    var after = MemAvailable();
    var cgroupSum = sandboxes.List().Sum(s => ReadLong($"/sys/fs/cgroup/memory/moat/{s.Id}/memory.usage_in_bytes"));
    var probe = sandboxes.List()[made / 2];
    var exec = await sandboxes.ExecAsync(probe.Id, ["echo", "alive"], null, TimeSpan.FromSeconds(30));
    sw.Restart();
    foreach (var s in sandboxes.List())
    {
        await sandboxes.DestroyAsync(s.Id);
    }

    var teardown = sw.Elapsed.TotalSeconds;
    Console.WriteLine();
    Console.WriteLine($"## Density: {made} idle sandboxes{(failure is null ? "" : $" (stopped early: {failure})")}");
    Console.WriteLine();
    Console.WriteLine("| figure | value |");
    Console.WriteLine("|---|---:|");
    Console.WriteLine($"| sandboxes running at once | {made} |");
    Console.WriteLine($"| time to create all / destroy all | {startAll:F1} s / {teardown:F1} s |");
    Console.WriteLine($"| host memory per sandbox (MemAvailable drop / N) | {(before - after) / (double)made / (1 << 20):F2} MiB |");
    Console.WriteLine($"| of which charged to the sandboxes' cgroups (sum / N) | {cgroupSum / (double)made / (1 << 20):F2} MiB |");
    Console.WriteLine($"| exec in sandbox #{made / 2} at full density | exit {exec.ExitCode}, \"{exec.Stdout.Trim()}\" |");
}

async Task Churn()
{
    var links0 = await Count("ip", "-n", hostNs, "-o", "link");
    var sw = Stopwatch.StartNew();
    for (var i = 0; i < cycles; i++)
    {
        var s = await sandboxes.CreateAsync(SandboxSpec.Default);
        await sandboxes.DestroyAsync(s.Id);
    }

    var elapsed = sw.Elapsed.TotalSeconds;
    var netns = Directory.EnumerateFiles("/run/netns", "moat-*").Count();
    var mounts = File.ReadLines("/proc/self/mountinfo").Count(l => l.Contains(state, StringComparison.Ordinal) && !l.Contains("/images", StringComparison.Ordinal));
    var cgroups = Directory.Exists("/sys/fs/cgroup/memory/moat") ? Directory.GetDirectories("/sys/fs/cgroup/memory/moat").Length : 0;
    var links = await Count("ip", "-n", hostNs, "-o", "link") - links0;
    var containers = Directory.Exists(Path.Combine(state, "runtime")) ? Directory.GetDirectories(Path.Combine(state, "runtime")).Length : 0;
    Console.WriteLine();
    Console.WriteLine($"## Churn: {cycles} create/destroy cycles in {elapsed:F1} s ({elapsed * 1000 / cycles:F1} ms per cycle)");
    Console.WriteLine();
    Console.WriteLine($"left behind: netns {netns}, host veths {links}, mounts {mounts}, memory cgroups {cgroups}, runc containers {containers}, sandbox folders {Directory.GetDirectories(Path.Combine(state, "sandboxes")).Length}");
}

static void Row(string name, List<double> xs, double bareP50) =>
    Console.WriteLine($"| {name} | {P(xs, 50):F1} | {P(xs, 99):F1} | {P(xs, 50) / bareP50:F2}x |");

static double P(List<double> xs, int pct)
{
    var s = xs.Order().ToList();
    return s[Math.Clamp((int)Math.Ceiling(pct / 100.0 * s.Count) - 1, 0, s.Count - 1)];
}

static long MemAvailable() =>
    long.Parse(File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemAvailable:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;

static long ReadLong(string path) => File.Exists(path) ? long.Parse(File.ReadAllText(path).Trim(), CultureInfo.InvariantCulture) : 0;

static async Task<int> Count(params string[] a) => (await Sh(a)).Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;

static async Task ShChecked(params string[] a)
{
    var (code, output) = await Sh(a);
    if (code != 0)
    {
        throw new InvalidOperationException($"{string.Join(' ', a.Take(4))} failed: {output}");
    }
}

static async Task<(int Code, string Out)> Sh(params string[] a)
{
    var psi = new ProcessStartInfo(a[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
    foreach (var x in a.Skip(1))
    {
        psi.ArgumentList.Add(x);
    }

    using var p = Process.Start(psi)!;
    var o = p.StandardOutput.ReadToEndAsync();
    var e = p.StandardError.ReadToEndAsync();
    await p.WaitForExitAsync();
    return (p.ExitCode, await o + await e);
}
