using System.Globalization;
using Moat.Honeyfarm.Bench;

// Honeyfarm macro benchmark: first packet to answer, clones per second, memory per idle clone, gateway packet rate.
// Run as root: dotnet run -c Release --project bench/Moat.Honeyfarm.Bench -- [samples] [burst] [live] [packets]
//         or: ... -- replay   (only the scan captures replayed into a farm)
//         or: ... -- containers [samples] [live] [runc|runsc]   (clones as sandboxes; runc ones also in the full run)
if (args is ["containers", ..])
{
    Console.WriteLine($"# moat honeyfarm bench (containers)  {DateTime.UtcNow:u}  kernel {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}  cores {Environment.ProcessorCount}");
    await ContainerClones.RunAsync(Arg(1, 50), Arg(2, 100), args.Length > 3 ? args[3] : "runc");
    return;
}

//         or: ... -- masscan [rate]   (a live masscan of the whole dark range; also part of the full run)
if (args is ["masscan", ..])
{
    Console.WriteLine($"# moat honeyfarm bench (masscan)  {DateTime.UtcNow:u}  kernel {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}  cores {Environment.ProcessorCount}");
    await LiveMasscan.RunAsync(Arg(1, 10_000));
    return;
}

//         or: ... -- forward [seconds]   (an established flow through the gateway's kernel, against iperf3 to the gateway)
if (args is ["forward", ..])
{
    Console.WriteLine($"# moat honeyfarm bench (forward)  {DateTime.UtcNow:u}  kernel {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}  cores {Environment.ProcessorCount}");
    await ForwardRate.RunAsync(Arg(1, 5));
    return;
}

//         or: ... -- flood [sources]   (the scan filter at a million keys; a spoofed SYN flood into a lab farm)
if (args is ["flood", ..])
{
    Console.WriteLine($"# moat honeyfarm bench (flood)  {DateTime.UtcNow:u}  kernel {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}  cores {Environment.ProcessorCount}");
    await SpoofedFlood.RunAsync(Arg(1, 98_000));
    return;
}

if (args is ["replay"])
{
    Console.WriteLine($"# moat honeyfarm bench (replay)  {DateTime.UtcNow:u}  kernel {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}  cores {Environment.ProcessorCount}");
    await ReplayScans.RunAsync();
    return;
}

var samples = Arg(0, 200);
var burst = Arg(1, 200);
var live = Arg(2, 1000);
var packets = Arg(3, 200_000);

Console.WriteLine($"# moat honeyfarm bench  {DateTime.UtcNow:u}  kernel {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}  cores {Environment.ProcessorCount}");
await ClaimLatency.RunAsync(samples);
await Burst.RunAsync(burst);
await LiveClones.RunAsync(live);
await PacketRate.RunAsync(packets);
await ForwardRate.RunAsync(5);
await ReplayScans.RunAsync();
await LiveMasscan.RunAsync(10_000);
await ContainerClones.RunAsync(50, 100);

int Arg(int i, int fallback) => args.Length > i ? int.Parse(args[i], CultureInfo.InvariantCulture) : fallback;
