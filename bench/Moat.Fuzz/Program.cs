using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Moat.Fuzz.Engine;
using Moat.Fuzz.Targets;

// A deterministic mutation fuzzer over every parser of outside input (see docs/benchmarks/fuzz.md).
// Usage: dotnet run --project bench/Moat.Fuzz -c Release -- --target NAME|all --inputs N --seed S [--json] [--crashes DIR]
var target = new Option<string>("--target") { Description = "A target name or 'all'.", DefaultValueFactory = _ => "all" };
var inputs = new Option<long>("--inputs") { Description = "Inputs per target.", DefaultValueFactory = _ => 100_000 };
var seed = new Option<int>("--seed") { Description = "Seed of the mutations; a finding is reproduced by seed and input index.", DefaultValueFactory = _ => 1 };
var json = new Option<bool>("--json") { Description = "Print the results as JSON instead of a table." };
var crashes = new Option<string>("--crashes") { Description = "Folder for crashing inputs.", DefaultValueFactory = _ => "fuzz-findings" };
var hangMs = new Option<int>("--hang-ms") { Description = "An input running longer than this is a hang.", DefaultValueFactory = _ => 1000 };
var list = new Option<bool>("--list") { Description = "List the targets and their parsers." };

var root = new RootCommand("Mutation fuzzer over Moat's parsers of outside input.") { target, inputs, seed, json, crashes, hangMs, list };
root.SetAction(parsed =>
{
    if (parsed.GetValue(list))
    {
        foreach (var t in FuzzTargets.All.Select(f => f()))
        {
            Console.WriteLine($"{t.Name,-12} {t.Parser}");
        }

        return 0;
    }

    IReadOnlyList<FuzzTarget> targets;
    try
    {
        targets = FuzzTargets.Select(parsed.GetValue(target)!);
    }
    catch (ArgumentException e)
    {
        Console.Error.WriteLine(e.Message);
        return 2;
    }

    var options = FuzzOptions.Default with
    {
        Inputs = parsed.GetValue(inputs),
        Seed = parsed.GetValue(seed),
        HangLimit = TimeSpan.FromMilliseconds(parsed.GetValue(hangMs)),
        CrashFolder = parsed.GetValue(crashes),
    };
    var runner = new FuzzRunner(options);
    var results = new List<FuzzResult>();
    bool asJson = parsed.GetValue(json);
    if (!asJson)
    {
        Console.WriteLine($"seed {options.Seed}, {options.Inputs} inputs per target, hang limit {options.HangLimit.TotalMilliseconds} ms, {Environment.ProcessorCount} cores, .NET {Environment.Version}");
        Console.WriteLine($"{"target",-12} {"inputs",10} {"refused",10} {"crashes",8} {"hangs",6} {"memory",7} {"max ms",8} {"max alloc",10} {"peak WS",9} {"peak heap",9} {"inputs/s",9}");
    }

    foreach (var t in targets)
    {
        var r = runner.Run(t);
        results.Add(r);
        if (!asJson)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Target,-12} {r.Inputs,10} {r.Refused,10} {r.Crashes,8} {r.Hangs,6} {r.MemoryFindings,7} {r.MaxMsPerInput,8:0.0} {Mib(r.MaxAllocatedPerInput),10} {Mib(r.PeakWorkingSet),9} {Mib(r.PeakGcHeap),9} {r.InputsPerSecond,9:0}"));
            foreach (var f in r.Findings)
            {
                Console.WriteLine($"  {f.Kind} x{f.Count} at input {f.Index}: {f.Signature} ({f.Minimised.Length} bytes minimised{(f.SavedAs is null ? "" : ", saved as " + f.SavedAs)})");
            }
        }
    }

    if (asJson)
    {
        Console.WriteLine(JsonSerializer.Serialize(results.Select(r => new
        {
            r.Target,
            r.Parser,
            r.Inputs,
            r.Refused,
            r.Crashes,
            r.Hangs,
            r.MemoryFindings,
            r.MaxMsPerInput,
            r.MaxAllocatedPerInput,
            r.PeakWorkingSet,
            r.PeakGcHeap,
            r.Seconds,
            r.InputsPerSecond,
            Findings = r.Findings.Select(f => new { Kind = f.Kind.ToString(), f.Index, f.Count, f.Signature, f.SavedAs, Minimised = Convert.ToBase64String(f.Minimised) }),
        }), new JsonSerializerOptions { WriteIndented = true }));
    }

    return results.Any(r => r.Crashes + r.Hangs + r.MemoryFindings > 0) ? 1 : 0;
});

return root.Parse(args).Invoke();

static string Mib(long bytes) => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:0.0} MiB");
