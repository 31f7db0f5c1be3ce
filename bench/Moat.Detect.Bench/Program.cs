using System.CommandLine;
using Moat.Detect.Bench;
using Moat.Detect.Cli;

// `cli ...` runs the detect verbs as `moat detect ...` would (handy before the lead wires them); anything else benchmarks.
if (args.Length > 0 && args[0] == "cli")
{
    var root = new RootCommand("moat (detect verbs only)") { DetectCommands.Create() };
    return await root.Parse(args[1..]).InvokeAsync();
}

return ReplayBenchmark.Run(args);
