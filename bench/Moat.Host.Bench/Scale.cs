// Per-sandbox cost as the host fills (issue 19): create and destroy p50 with 0, 1,000, ... sandboxes already running,
// bare `runc run -d` + delete measured at each level in the same run (the runtime's own share), and what each create
// asks of the agent counted, not timed: mount-table reads, store rows decoded, bytes the agent process read.
// Usage: Moat.Host.Bench scale [--levels 0,1000] [--probe 20]   (Program.cs dispatches "scale" to ScaleBench.RunAsync)
// Every sandbox's host side lives in a namespace this program makes (mts*), addresses from 198.19.0.0/16.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Moat.Cli.Composition;
using Moat.Host.Agent;
using Moat.Host.Sandboxes;
using Moat.Host.Store;
using Moat.Images.Store;
using Moat.Linux.Mounts;

internal static class ScaleBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var i = Array.IndexOf(args, "--levels");
        var levels = (i >= 0 && i + 1 < args.Length ? args[i + 1] : "0,1000").Split(',').Select(l => int.Parse(l, CultureInfo.InvariantCulture)).Order().ToList();
        var p = Array.IndexOf(args, "--probe");
        var probe = p >= 0 && p + 1 < args.Length ? int.Parse(args[p + 1], CultureInfo.InvariantCulture) : 20;
        var tag = Guid.NewGuid().ToString("N")[..6];
        var state = Path.Combine(Path.GetTempPath(), "moat-scalebench-" + tag);
        var hostNs = "mts" + tag;
        Directory.CreateDirectory(state);
        await Sh("ip", "netns", "add", hostNs);
        var images = ImageStore.Open(Path.Combine(state, "images"));
        await images.BuildBusyboxAsync();
        var options = new HostAgentOptions { StateDir = state, HostNamespace = hostNs, AddressPool = "198.19.0.0/16" };
        var app = await HostAgent.BuildAsync(options, ImageCatalog.ForStateDir);
        await app.StartAsync();
        var sandboxes = app.Services.GetRequiredService<SandboxService>();
        var store = app.Services.GetRequiredService<HostStore>();
        var spec = SandboxSpec.Default with { MemoryBytes = 64 * SandboxSpec.MiB, Volume = false };
        var peerDir = Path.Combine(state, "peer");
        var runcRoot = Path.Combine(state, "peer-runc");
        await PeerBundleAsync(images.RootfsPath(images.Get("busybox")), peerDir);
        Console.WriteLine($"# Moat per-sandbox cost by host load — {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, kernel {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}, runtime runc, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]} at start");
        Console.WriteLine();
        Console.WriteLine($"Each level: {probe} creates of one more sandbox (`SandboxService.CreateAsync`, call to return: netns, veth, /32, disk, overlay, bundle, `runc run -d`), each followed by its destroy (call to return), with the level's sandboxes idle; then {probe} bare `runc run -d` + `runc delete --force` of the busybox rootfs (no overlay, no veth, no limits) as the floor. Counts are per create+destroy pair.");
        Console.WriteLine();
        Console.WriteLine("| loaded | create p50 ms | destroy p50 ms | bare runc run -d p50 ms | create / bare | mountinfo reads | store rows decoded | bytes read by the agent | host memory per loaded sandbox | load avg |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        var memory0 = MemAvailable();
        var loaded = 0;
        try
        {
            foreach (var level in levels)
            {
                for (; loaded < level; loaded++)
                {
                    await sandboxes.CreateAsync(spec);
                }

                var create = new List<double>();
                var destroy = new List<double>();
                var (reads0, rows0, bytes0) = (MountTable.TableReads, store.RowsRead, ReadBytes());
                for (var k = 0; k < probe; k++)
                {
                    var sw = Stopwatch.StartNew();
                    var s = await sandboxes.CreateAsync(spec);
                    create.Add(sw.Elapsed.TotalMilliseconds);
                    sw.Restart();
                    await sandboxes.DestroyAsync(s.Id);
                    destroy.Add(sw.Elapsed.TotalMilliseconds);
                }

                var (reads, rows, bytes) = ((MountTable.TableReads - reads0) / (double)probe, (store.RowsRead - rows0) / (double)probe, (ReadBytes() - bytes0) / (double)probe);
                var bare = new List<double>();
                for (var k = 0; k < probe; k++)
                {
                    var sw = Stopwatch.StartNew();
                    await ShChecked("sh", "-c", $"exec runc --root {runcRoot} run -d -b {peerDir} peer >>{peerDir}/console.log 2>&1");
                    bare.Add(sw.Elapsed.TotalMilliseconds);
                    await ShChecked("runc", "--root", runcRoot, "delete", "--force", "peer");
                }

                var perSandbox = loaded == 0 ? "—" : $"{(memory0 - MemAvailable()) / (double)loaded / (1 << 20):F2} MiB";
                Console.WriteLine($"| {loaded} | {P50(create):F1} | {P50(destroy):F1} | {P50(bare):F1} | {P50(create) / P50(bare):F2} | {reads:F1} | {rows:F1} | {bytes / 1024:F0} KiB | {perSandbox} | {File.ReadAllText("/proc/loadavg").Split(' ')[0]} |");
            }
        }
        finally
        {
            foreach (var s in sandboxes.List())
            {
                await sandboxes.DestroyAsync(s.Id);
            }

            await app.DisposeAsync();
            await Sh("sh", "-c", $"runc --root {runcRoot} delete --force peer");
            await Sh("ip", "netns", "del", hostNs);
            Directory.Delete(state, recursive: true);
        }

        return 0;
    }

    private static async Task PeerBundleAsync(string rootfs, string dir)
    {
        Directory.CreateDirectory(dir);
        await ShChecked("runc", "spec", "--bundle", dir);
        var spec = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!;
        spec["root"]!["path"] = rootfs;
        spec["process"]!["args"] = new JsonArray("/bin/sleep", "3600");
        spec["process"]!["terminal"] = false;
        File.WriteAllText(Path.Combine(dir, "config.json"), spec.ToJsonString());
    }

    /// <summary>rchar of /proc/self/io: bytes this process read by read(2) and its kin, files and /proc included.</summary>
    private static long ReadBytes() =>
        long.Parse(File.ReadLines("/proc/self/io").First(l => l.StartsWith("rchar:", StringComparison.Ordinal))["rchar:".Length..].Trim(), CultureInfo.InvariantCulture);

    private static double P50(List<double> xs) => xs.Order().ElementAt((xs.Count - 1) / 2);

    private static long MemAvailable() =>
        long.Parse(File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemAvailable:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;

    private static async Task ShChecked(params string[] a)
    {
        var (code, output) = await Sh(a);
        if (code != 0)
        {
            throw new InvalidOperationException($"{string.Join(' ', a.Take(4))} failed: {output}");
        }
    }

    private static async Task<(int Code, string Out)> Sh(params string[] a)
    {
        var psi = new ProcessStartInfo(a[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var x in a.Skip(1))
        {
            psi.ArgumentList.Add(x);
        }

        using var proc = Process.Start(psi)!;
        var o = proc.StandardOutput.ReadToEndAsync();
        var e = proc.StandardError.ReadToEndAsync();
        await proc.WaitForExitAsync();
        return (proc.ExitCode, await o + await e);
    }
}
