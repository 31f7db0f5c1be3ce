using System.CommandLine;
using Moat.Detect.Bench;
using Moat.Detect.Cli;

// `cli ...` runs the detect verbs as `moat detect ...` would (handy before the lead wires them); anything else benchmarks.
if (args.Length > 0 && args[0] == "cli")
{
    var root = new RootCommand("moat (detect verbs only)") { DetectCommands.Create() };
    return await root.Parse(args[1..]).InvokeAsync();
}

// `latency CAPTURES_DIR` prints detection latency per scan class on the tool captures (docs/benchmarks/detect.md).
if (args.Length > 0 && args[0] == "latency")
{
    ScanClassLatency.Run(args.Length > 1 ? args[1] : Path.Combine("tests", "Moat.Detect.Tests", "Captures"));
    return 0;
}

return ReplayBenchmark.Run(args);
