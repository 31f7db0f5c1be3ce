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
/// `Moat.Mtd.Bench relocate [N]`: cold relocation of a busybox httpd sandbox between two lab hosts, N times (ping-pong),
/// while a client in its own namespace sends requests to the VIP back to back (each retried until served, 20 ms apart).
/// Prints per-relocation downtime (coordinator: source stop → VIP switch; client: longest gap between two answers),
/// bytes moved, requests served and lost, and the floor: one runc start of the same image on the same host.
/// </summary>
internal static class RelocationBench
{
    public static async Task<int> RunAsync(int relocations)
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

            await using var lab = await SurrogateLab.StartAsync(2, images, ImageCatalog.ForStateDir).ConfigureAwait(false);
            await using var front = await lab.OpenFrontAsync().ConfigureAwait(false);
            var hosts = lab.Hosts;
            var web = await hosts[0].Sandboxes.CreateAsync(SandboxSpec.Default with
            {
                Name = "web",
                Command = ["sh", "-c", "mkdir -p /data/www && echo ok > /data/www/index.html && exec httpd -f -p 80 -h /data/www"],
            }).ConfigureAwait(false);
            await lab.ExposeAsync(hosts[0].Relocation, await hosts[0].Relocation.InspectAsync(web.Id).ConfigureAwait(false)).ConfigureAwait(false);
            var vip = lab.NextVip();
            await front.SwitchAsync(vip, IPAddress.Parse(web.Address!)).ConfigureAwait(false);
            var binding = new Relocation.Network.ServiceBinding(front, vip, 80, lab);
            var url = new Uri($"http://{vip}/index.html");
            using var http = lab.ClientHttp(TimeSpan.FromSeconds(1));

            // Floor: a stop + start of the same sandbox on its host (runc delete + run + the service answering).
            var floor = Stopwatch.StartNew();
            await hosts[0].Relocation.StopAsync(web.Id).ConfigureAwait(false);
            await hosts[0].Relocation.StartAsync(web.Id).ConfigureAwait(false);
            while (!await front.ProbeAsync(IPAddress.Parse(web.Address!), 80, TimeSpan.FromMilliseconds(250)).ConfigureAwait(false))
            {
                await Task.Delay(5).ConfigureAwait(false);
            }

            floor.Stop();

            using var stop = new CancellationTokenSource();
            var gaps = new List<double>();
            long served = 0, lost = 0, retries = 0;
            var client = Task.Run(async () =>
            {
                var last = Stopwatch.StartNew();
                while (!stop.IsCancellationRequested)
                {
                    var deadline = Stopwatch.StartNew();
                    while (true)
                    {
                        try
                        {
                            _ = await http.GetStringAsync(url).ConfigureAwait(false);
                            served++;
                            lock (gaps)
                            {
                                gaps.Add(last.Elapsed.TotalMilliseconds);
                            }

                            last.Restart();
                            break;
                        }
                        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                        {
                            retries++;
                            if (deadline.Elapsed > TimeSpan.FromSeconds(30))
                            {
                                lost++;
                                break;
                            }

                            await Task.Delay(20).ConfigureAwait(false);
                        }
                    }
                }
            });

            var coordinator = new RelocationCoordinator();
            var reports = new List<RelocationReport>();
            for (var i = 0; i < relocations; i++)
            {
                var (from, to) = (hosts[i % 2], hosts[(i + 1) % 2]);
                var r = await coordinator.RelocateAsync("web", from.Relocation, to.Relocation, binding).ConfigureAwait(false);
                reports.Add(r);
                Console.WriteLine(string.Create(c, $"{i + 1,3} {r.From}->{r.To} {r.Outcome} mode={r.Mode} bytes={r.BytesMoved} downtime={r.Downtime.TotalMilliseconds:0.0} ms total={r.Total.TotalMilliseconds:0.0} ms"));
                if (!r.Succeeded)
                {
                    Console.WriteLine("   " + r.Failure);
                }
            }

            await stop.CancelAsync().ConfigureAwait(false);
            await client.ConfigureAwait(false);
            var down = reports.Where(r => r.Succeeded).Select(r => r.Downtime.TotalMilliseconds).Order().ToList();
            var total = reports.Where(r => r.Succeeded).Select(r => r.Total.TotalMilliseconds).Order().ToList();
            var maxGaps = gaps.OrderDescending().Take(relocations).Order().ToList();
            Console.WriteLine();
            Console.WriteLine($"live migration: {reports[0].LiveUnavailable}");
            Console.WriteLine(string.Create(c, $"relocations: {reports.Count(r => r.Succeeded)}/{relocations} moved (cold), bytes moved p50 {Percentile(reports.Select(r => (double)r.BytesMoved).Order().ToList(), 50):0}"));
            Console.WriteLine(string.Create(c, $"downtime (source stop -> VIP switched): p50 {Percentile(down, 50):0.0} ms, p99 {Percentile(down, 99):0.0} ms, max {down.LastOrDefault():0.0} ms"));
            Console.WriteLine(string.Create(c, $"whole relocation (reserve -> source destroyed): p50 {Percentile(total, 50):0.0} ms, p99 {Percentile(total, 99):0.0} ms"));
            Console.WriteLine(string.Create(c, $"client: {served} requests served, {lost} lost after retries, {retries} retried attempts; the {relocations} longest gaps between answers: p50 {Percentile(maxGaps, 50):0.0} ms, max {maxGaps.LastOrDefault():0.0} ms"));
            Console.WriteLine(string.Create(c, $"floor: stop + start of the same sandbox in place until it answers: {floor.Elapsed.TotalMilliseconds:0.0} ms"));
            return reports.All(r => r.Succeeded) && lost == 0 ? 0 : 1;
        }
        finally
        {
            if (Directory.Exists(images))
            {
                Directory.Delete(images, recursive: true);
            }
        }
    }

    private static double Percentile(List<double> sorted, int p) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p / 100.0 * sorted.Count) - 1, 0, sorted.Count - 1)];
}
