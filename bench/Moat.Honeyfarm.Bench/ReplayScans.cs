using Moat.Detect.Tests.Conformance;
using Moat.Honeyfarm.Lab;
using Moat.Honeyfarm.Replay;

namespace Moat.Honeyfarm.Bench;

/// <summary>
/// The scan filter against real scans: every capture of ../shared/conformance/traffic-scans replayed into a fresh
/// farm (scan filter at its 60 s default), counting clones bound against addresses the capture touched.
/// </summary>
internal static class ReplayScans
{
    public static async Task RunAsync()
    {
        Console.WriteLine();
        Console.WriteLine("## replayed scan captures (traffic-scans): clones bound vs addresses touched, scan filter 60 s");
        Console.WriteLine("| capture | packets sent | initiators | addresses touched | clones bound | scan-filtered | records not replayed |");
        Console.WriteLine("|---|---|---|---|---|---|---|");
        foreach (var file in ConformanceData.Captures("traffic-scans"))
        {
            await using var lab = await FarmLab.StartAsync();
            var plan = CaptureReplay.Plan(file, FarmLab.Dark, [FarmLab.Source(0), FarmLab.Source(1), FarmLab.Source(2), FarmLab.Source(3)]);
            var sent = CaptureReplay.Send(lab.Internet, plan);
            var deadline = DateTime.UtcNow.AddSeconds(30);
            // Until every packet is read and every address decided (bound, or its first packet filtered).
            while ((lab.Gateway.Counters.PacketsIn < sent || lab.Gateway.Counters.ClonesBound + lab.Gateway.Counters.ScanFiltered < plan.Destinations)
                && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }

            var c = lab.Gateway.Counters;
            Console.WriteLine($"| {Path.GetFileName(file)} | {sent} | {plan.Sources} | {plan.Destinations} | {c.ClonesBound} | {c.ScanFiltered} | {plan.Skipped} |");
        }
    }
}
