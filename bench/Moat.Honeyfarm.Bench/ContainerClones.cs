using System.Diagnostics;
using System.Globalization;
using Moat.Honeyfarm.Clones;
using Moat.Honeyfarm.Lab;
using Moat.Images.Store;

namespace Moat.Honeyfarm.Bench;

/// <summary>
/// Clones as real sandboxes (runc over a busybox reference image): the cost of preparing one (against the peer,
/// a bare `runc run -d` of the same image in the same run), first packet to answer with a warm pool,
/// and host memory per live clone.
/// </summary>
internal static class ContainerClones
{
    public static async Task RunAsync(int samples, int live, string runtime = "runc")
    {
        var state = Path.Combine(Path.GetTempPath(), "moat-hf-bench-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var store = ImageStore.Open(Path.Combine(state, "images"));
            var image = store.RootfsPath(await store.BuildBusyboxAsync());
            var containers = new ContainerCloneOptions
            {
                ImageRootfs = image,
                StateDir = Path.Combine(state, "farm"),
                InitBinary = Path.Combine(AppContext.BaseDirectory, "moat-init"),
                Runtime = runtime,
            };
            var personality = new Personality("busybox-server", [22, 80], [], "SSH-2.0-OpenSSH_9.2p1 Debian-2");

            // Preparation: the gateway's start fills the warm pool one clone after another.
            var peer = await PeerAsync(containers.IsGvisor, image, Path.Combine(state, "peer"), 16);
            const int warm = 16;
            var start = Stopwatch.StartNew();
            var lab = await FarmLab.StartAsync(o => o with { WarmClones = warm, MaxClones = warm + samples + live, ScanFilterInterval = TimeSpan.Zero, IdleTimeout = TimeSpan.FromHours(1), Personality = personality, Containers = containers });
            var prepare = start.Elapsed / warm;

            var claims = new List<TimeSpan>();
            await using (lab)
            {
                var source = FarmLab.Source(0);
                for (var i = 0; i < samples; i++)
                {
                    await Probe.WaitAsync(() => lab.Gateway.Counters.WarmClones >= 4, TimeSpan.FromSeconds(60));
                    using var s = Probe.TcpSocket(lab.Internet, source);
                    claims.Add(await Probe.ConnectAsync(s, Probe.Dark(i), 22));
                }

                claims = [.. claims.Skip(3).Order()];

                // Memory: more clones bound and held (each answers a connection first), against MemAvailable.
                await Probe.WaitAsync(() => lab.Gateway.Counters.WarmClones >= 4, TimeSpan.FromSeconds(60));
                var before = Probe.MemAvailableKiB();
                var bound = lab.Gateway.Counters.LiveClones;
                for (var i = 0; i < live; i++)
                {
                    using var s = Probe.TcpSocket(lab.Internet, source);
                    await Probe.ConnectAsync(s, Probe.Dark(samples + i), 22);
                }

                await Probe.WaitAsync(() => lab.Gateway.Counters.WarmClones >= 4, TimeSpan.FromSeconds(120));
                var perClone = (before - Probe.MemAvailableKiB()) / (double)(lab.Gateway.Counters.LiveClones - bound);

                Console.WriteLine();
                Console.WriteLine($"## clones as {(containers.IsGvisor ? "gVisor (runsc, ptrace platform, host network in the clone's namespace)" : runtime)} sandboxes (busybox image, overlay on a 64 MiB tmpfs, services: nc shell on 22, httpd on 80)");
                Console.WriteLine("| measure | figure |");
                Console.WriteLine("|---|---|");
                Console.WriteLine($"| prepare one warm clone (netns + veth + tmpfs + overlay + {runtime} run + services listening), mean of {warm} | {Probe.Ms(prepare)} ms |");
                Console.WriteLine($"| peer: {(containers.IsGvisor ? "`runsc --platform ptrace --network none run --detach`" : "`runc run -d`")} of the same image (a sleep; no overlay, no network setup, no services), mean of 16 | {Probe.Ms(peer)} ms (clone/peer {prepare / peer:0.00}) |");
                Console.WriteLine($"| first packet to answer (SYN -> SYN-ACK) on a fresh address, warm pool >= 4, {samples} samples (first 3 dropped) | p50 {Probe.Ms(Probe.Percentile(claims, 0.5))} ms, p99 {Probe.Ms(Probe.Percentile(claims, 0.99))} ms, max {Probe.Ms(claims[^1])} ms |");
                Console.WriteLine($"| host memory per live clone ({live} more bound and held; MemAvailable) | {perClone:0} KiB |");
            }
        }
        finally
        {
            try
            {
                Directory.Delete(state, recursive: true);
            }
            catch (IOException e)
            {
                Console.Error.WriteLine($"leftover in {state}: {e.Message}");
            }
        }
    }

    /// <summary>The peer on this machine: the same runtime starting a container of the same image by itself (runc, or
    /// runsc on the ptrace platform without networking), mean time of the start.</summary>
    private static async Task<TimeSpan> PeerAsync(bool gvisor, string image, string dir, int runs)
    {
        var bundle = Path.Combine(dir, "bundle");
        Directory.CreateDirectory(bundle);
        var config = $$$"""
            {"ociVersion":"1.0.2","process":{"args":["/bin/sleep","60"],"cwd":"/","user":{"uid":0,"gid":0}},
             "root":{"path":"{{{image}}}","readonly":true},"hostname":"peer",
             "mounts":[{"destination":"/proc","type":"proc","source":"proc"}],
             "linux":{"namespaces":[{"type":"pid"},{"type":"mount"},{"type":"network"},{"type":"ipc"},{"type":"uts"}]}}
            """;
        await File.WriteAllTextAsync(Path.Combine(bundle, "config.json"), config);
        var total = TimeSpan.Zero;
        for (var i = 0; i < runs; i++)
        {
            var id = "moat-hf-peer-" + i.ToString(CultureInfo.InvariantCulture);
            var sw = Stopwatch.StartNew();
            if (gvisor)
            {
                await ToolAsync("runsc", "--root", Path.Combine(dir, "runsc"), "--platform", "ptrace", "--network", "none", "run", "--detach", "--bundle", bundle, id);
                total += sw.Elapsed;
                await ToolAsync("runsc", "--root", Path.Combine(dir, "runsc"), "delete", "--force", id);
            }
            else
            {
                await ToolAsync("runc", "--root", Path.Combine(dir, "runc"), "run", "-d", "-b", bundle, id);
                total += sw.Elapsed;
                await ToolAsync("runc", "--root", Path.Combine(dir, "runc"), "delete", "-f", id);
            }
        }

        return total / runs;
    }

    /// <summary>
    /// runc/runsc to their exit, output not read: a detached container keeps the pipes it inherited open, so waiting
    /// for their end (as <see cref="Probe.RunAsync"/> does) would wait for the container.
    /// </summary>
    private static async Task ToolAsync(string tool, params string[] args)
    {
        var psi = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{tool} {string.Join(' ', args)}: {await p.StandardError.ReadToEndAsync()}");
        }
    }
}
