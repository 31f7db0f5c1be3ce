using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Moat.Mtd.Cli;
using Moat.Mtd.Simulation;

// `Moat.Mtd.Bench mtd simulate ...` runs the CLI subtree as `moat mtd simulate ...` would, for other scenarios.
if (args.Length > 0 && args[0] == "mtd")
{
    return await new RootCommand("moat (MTD only)") { MtdCommands.Create() }.Parse(args).InvokeAsync().ConfigureAwait(false);
}

// `Moat.Mtd.Bench relocate [N] [--fabric] [--gvisor] [--idle]`: real relocations between two lab hosts (needs root),
// driven through each agent's socket or, with --fabric, over the XMPP fabric only; --gvisor moves a gvisor-tier service
// (live when runsc can checkpoint it); --idle keeps the client quiet during the moves (a request after each instead).
if (args.Length > 0 && args[0] == "relocate")
{
    var count = args.Skip(1).FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal)) is { } n ? int.Parse(n, CultureInfo.InvariantCulture) : 20;
    return await Moat.Mtd.Bench.RelocationBench.RunAsync(count, fabric: args.Contains("--fabric"),
        args.Contains("--gvisor") ? Moat.Host.Sandboxes.RuntimeTier.Gvisor : Moat.Host.Sandboxes.RuntimeTier.Container, idle: args.Contains("--idle")).ConfigureAwait(false);
}

// Macro benchmark of the MTD simulator: prints the simulated figures (attacks resisted and survival per strategy)
// and how long the simulation took, beside the floor of the same work: pushing and popping the same number of
// events through a bare PriorityQueue in the same run.
var c = CultureInfo.InvariantCulture;
var trials = args.Length > 0 ? int.Parse(args[0], c) : SimulationOptions.Default.Trials;
var seed = args.Length > 1 ? int.Parse(args[1], c) : SimulationOptions.Default.Seed;
var options = SimulationOptions.Default with { Trials = trials, Seed = seed };

// Warm-up: JIT and thread pool, not measured.
CoResidencySimulator.Run(options with { Trials = 5 });

var counters = new RunCounters();
var sw = Stopwatch.StartNew();
var report = CoResidencySimulator.Run(options, counters);
sw.Stop();

var floor = QueueFloor(counters.Events);
Console.WriteLine(ReportWriter.ToMarkdown(report));
Console.WriteLine("Runtime");
Console.WriteLine();
Console.WriteLine("| measure | simulator | floor: bare event queue, same event count, one thread |");
Console.WriteLine("|---|---:|---:|");
Console.WriteLine(string.Create(c, $"| campaigns simulated | {counters.Campaigns:N0} | – |"));
Console.WriteLine(string.Create(c, $"| events processed | {counters.Events:N0} | {counters.Events:N0} |"));
Console.WriteLine(string.Create(c, $"| wall time (s) | {sw.Elapsed.TotalSeconds:0.00} | {floor.TotalSeconds:0.00} |"));
Console.WriteLine(string.Create(c, $"| µs per campaign | {sw.Elapsed.TotalMicroseconds / counters.Campaigns:0.0} | – |"));
Console.WriteLine(string.Create(c, $"| ns per event | {sw.Elapsed.TotalNanoseconds / counters.Events:0} | {floor.TotalNanoseconds / counters.Events:0} |"));
Console.WriteLine(string.Create(c, $"| cores | {Environment.ProcessorCount} | 1 |"));
return 0;

static TimeSpan QueueFloor(long events)
{
    // The cheapest possible discrete-event loop: each event is one enqueue and one dequeue on a queue holding ~10 events.
    var q = new PriorityQueue<int, (double, long)>();
    var random = new Random(1);
    for (var i = 0; i < 10; i++)
    {
        q.Enqueue(i, (random.NextDouble(), i));
    }

    var sw = Stopwatch.StartNew();
    long seq = 10;
    var sink = 0;
    for (long e = 0; e < events; e++)
    {
        q.TryDequeue(out var item, out var key);
        sink += item;
        q.Enqueue(item, (key.Item1 + random.NextDouble(), seq++));
    }

    sw.Stop();
    GC.KeepAlive(sink);
    return sw.Elapsed;
}
