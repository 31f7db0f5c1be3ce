using System.Diagnostics;
using System.Globalization;
using System.Net;
using Moat.Cli.Composition;
using Moat.Host.Sandboxes;
using Moat.Images.Store;
using Moat.Mtd.Relocation;
using Moat.Mtd.Relocation.Lab;

namespace Moat.Mtd.Bench;

/// <summary>
/// `Moat.Mtd.Bench relocate [N] [--fabric]`: cold relocation of a busybox httpd sandbox between two lab hosts, N times (ping-pong),
/// while a client in its own namespace sends requests to the VIP back to back (each retried until served, 20 ms apart).
/// Prints per-relocation downtime (coordinator: source stop → VIP switch; client: longest gap between two answers),
/// bytes moved, requests served and lost, and the floor: in-place restarts of the same sandbox (p50/p99 of as many runs).
/// </summary>
internal static class RelocationBench
{
    /// <param name="relocations">Moves to make (ping-pong between the two hosts).</param>
    /// <param name="fabric">Drive the hosts over the XMPP fabric (a Prosody of the lab's own; state as in-band bytestreams)
    /// instead of through each agent's socket.</param>
    /// <param name="tier">The service's runtime tier: gvisor sandboxes move live (runsc checkpoint/restore) when no TCP
    /// connection of theirs is open at the checkpoint, cold otherwise.</param>
    /// <param name="idle">No client during the moves (so gvisor moves can be live); the service is checked after each.</param>
    public static async Task<int> RunAsync(int relocations, bool fabric, RuntimeTier tier, bool idle)
    {
        var c = CultureInfo.InvariantCulture;
        var images = Path.Combine(Path.GetTempPath(), $"moat-mtd-bench-images-{Environment.ProcessId}");
        try
        {
            var store = ImageStore.Open(images);
            if (store.Resolve("busybox") is null)
            {
                await store.BuildBusyboxAsync().ConfigureAwait(false);
            }

            await using var lab = await SurrogateLab.StartAsync(2, images, ImageCatalog.ForStateDir, fabric: fabric).ConfigureAwait(false);
            await using var front = await lab.OpenFrontAsync().ConfigureAwait(false);
            await using var coordinator = fabric ? await lab.ConnectCoordinatorAsync().ConfigureAwait(false) : null;
            var hosts = lab.Hosts.Select(h => coordinator is null ? (IRelocationHost)h.Relocation : h.OnFabric(coordinator)).ToList();
            var web = await lab.StartWebServiceAsync(front, lab.Hosts[0], "web", "ok", tier).ConfigureAwait(false);
            using var http = lab.ClientHttp(TimeSpan.FromSeconds(1));

            // Floor: a stop + start of the same sandbox on its host (runc delete + run + the service answering), sampled
            // as often as the moves (at least 5) so that its p50/p99 stand beside the downtime's, not one sample.
            var floors = new List<double>();
            for (var i = 0; i < Math.Max(5, relocations); i++)
            {
                var floor = Stopwatch.StartNew();
                await hosts[0].StopAsync(web.Sandbox.Id).ConfigureAwait(false);
                await hosts[0].StartAsync(web.Sandbox.Id).ConfigureAwait(false);
                while (!await front.ProbeAsync(IPAddress.Parse(web.Sandbox.Address!), 80, TimeSpan.FromMilliseconds(250)).ConfigureAwait(false))
                {
                    await Task.Delay(5).ConfigureAwait(false);
                }

                floors.Add(floor.Elapsed.TotalMilliseconds);
            }

            var client = idle ? null : ServiceClientLoad.Start(http, web.Url, web.Body);
            long checkedAfter = 0;
            var coordinatorOfMoves = new RelocationCoordinator();
            var reports = new List<RelocationReport>();
            for (var i = 0; i < relocations; i++)
            {
                var (from, to) = (hosts[i % 2], hosts[(i + 1) % 2]);
                var r = await coordinatorOfMoves.RelocateAsync("web", from, to, web.Binding).ConfigureAwait(false);
                reports.Add(r);
                Console.WriteLine(string.Create(c, $"{i + 1,3} {r.From}->{r.To} {r.Outcome} mode={r.Mode} bytes={r.BytesMoved} downtime={r.Downtime.TotalMilliseconds:0.0} ms total={r.Total.TotalMilliseconds:0.0} ms"));
                if (!r.Succeeded)
                {
                    Console.WriteLine("   " + r.Failure);
                }
                else if (r.Mode == MigrationMode.Cold && tier == RuntimeTier.Gvisor)
                {
                    Console.WriteLine("   cold: " + r.LiveUnavailable);
                }

                if (idle && await http.GetStringAsync(web.Url).ConfigureAwait(false) == web.Body)
                {
                    checkedAfter++;
                }
            }

            var seen = client is null ? new ServiceClientReport(checkedAfter, relocations - checkedAfter, 0, 0, []) : await client.StopAsync().ConfigureAwait(false);
            var down = reports.Where(r => r.Succeeded).Select(r => r.Downtime.TotalMilliseconds).Order().ToList();
            var total = reports.Where(r => r.Succeeded).Select(r => r.Total.TotalMilliseconds).Order().ToList();
            var maxGaps = seen.LongestGaps(relocations).ToList();
            Console.WriteLine();
            Console.WriteLine($"control path: {(fabric ? "XMPP fabric (Prosody on loopback; state as XEP-0047 in-band bytestreams via the coordinator)" : "each agent's Unix socket")}; tier {tier.ToString().ToLowerInvariant()}; client {(idle ? "idle during moves, one request after each" : "back to back through the VIP")}");
            Console.WriteLine($"live migration: {reports[0].LiveUnavailable ?? "used"}");
            Console.WriteLine(string.Create(c, $"relocations: {reports.Count(r => r.Succeeded)}/{relocations} moved ({reports.Count(r => r.Succeeded && r.Mode == MigrationMode.Live)} live, {reports.Count(r => r.Succeeded && r.Mode == MigrationMode.Cold)} cold), bytes moved p50 {Percentiles.Of(reports.Select(r => (double)r.BytesMoved), 50):0}"));
            Console.WriteLine(string.Create(c, $"downtime (source stop -> VIP switched): p50 {Percentiles.Of(down, 50):0.0} ms, p99 {Percentiles.Of(down, 99):0.0} ms, max {down.LastOrDefault():0.0} ms"));
            foreach (var mode in new[] { MigrationMode.Live, MigrationMode.Cold })
            {
                var d = reports.Where(r => r.Succeeded && r.Mode == mode).Select(r => r.Downtime.TotalMilliseconds).ToList();
                if (d.Count > 0 && d.Count < down.Count)
                {
                    Console.WriteLine(string.Create(c, $"  {mode.ToString().ToLowerInvariant()} moves ({d.Count}): downtime p50 {Percentiles.Of(d, 50):0.0} ms, p99 {Percentiles.Of(d, 99):0.0} ms"));
                }
            }

            Console.WriteLine(string.Create(c, $"whole relocation (reserve -> source destroyed): p50 {Percentiles.Of(total, 50):0.0} ms, p99 {Percentiles.Of(total, 99):0.0} ms"));
            Console.WriteLine(string.Create(c, $"client: {seen.Served} requests served, {seen.Lost} lost after retries, {seen.Wrong} wrong answers, {seen.Retries} retried attempts; the {relocations} longest gaps between answers: p50 {Percentiles.Of(maxGaps, 50):0.0} ms, max {maxGaps.LastOrDefault():0.0} ms"));
            Console.WriteLine(string.Create(c, $"floor: stop + start of the same sandbox in place until it answers, {floors.Count} runs: p50 {Percentiles.Of(floors, 50):0.0} ms, p99 {Percentiles.Of(floors, 99):0.0} ms"));
            return reports.All(r => r.Succeeded) && seen.Lost == 0 && seen.Wrong == 0 ? 0 : 1;
        }
        finally
        {
            if (Directory.Exists(images))
            {
                Directory.Delete(images, recursive: true);
            }
        }
    }
}
