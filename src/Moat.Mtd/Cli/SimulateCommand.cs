using System.CommandLine;
using System.Globalization;
using Moat.Mtd.Plotting;
using Moat.Mtd.Simulation;

namespace Moat.Mtd.Cli;

/// <summary>`mtd simulate`: the co-residency attack simulator.</summary>
internal static class SimulateCommand
{
    public static Command Create()
    {
        var d = SimulationOptions.Default;
        var hosts = new Option<int>("--hosts") { Description = "Number of hosts.", DefaultValueFactory = _ => d.Hosts };
        var slots = new Option<int>("--slots") { Description = "Sandbox slots per host.", DefaultValueFactory = _ => d.SlotsPerHost };
        var attackers = new Option<int>("--attackers") { Description = "Sandboxes the attacker keeps launched (summary and Figure 5).", DefaultValueFactory = _ => d.AttackerSandboxes };
        var attackHours = new Option<double>("--attack-hours") { Description = "Mean co-resident time an attack needs (each attempt draws 0.5–1.5 times it).", DefaultValueFactory = _ => d.AttackHours };
        var probeHours = new Option<double>("--probe-hours") { Description = "Time to launch one attacker sandbox and test co-residency.", DefaultValueFactory = _ => d.ProbeHours };
        var horizon = new Option<double>("--horizon-hours") { Description = "Length of one attack campaign.", DefaultValueFactory = _ => d.HorizonHours };
        var trials = new Option<int>("--trials") { Description = "Campaigns per strategy and point.", DefaultValueFactory = _ => d.Trials };
        var rate = new Option<double>("--rate") { Description = "λ of the Poisson clock, relocations per hour.", DefaultValueFactory = _ => d.PoissonRatePerHour };
        var threshold = new Option<double?>("--threshold-hours") { Description = "T: longest dwell on one host under the Poisson clock (omit for the default 3 h; 0 is invalid).", DefaultValueFactory = _ => d.ThresholdHours };
        var noThreshold = new Option<bool>("--no-threshold") { Description = "Run a pure Poisson clock without the cap T." };
        var period = new Option<double>("--period-hours") { Description = "Interval of the periodic clock.", DefaultValueFactory = _ => d.PeriodHours };
        var aim = new Option<double>("--aim") { Description = "β: how strongly attacker launches land on hosts like the target's launch host (0 = uniform).", DefaultValueFactory = _ => d.AttackerAim };
        var adaptive = new Option<bool>("--adaptive") { Description = "The attacker re-aims its launches at the target's new host after every move, instead of at its launch profile." };
        var alert = new Option<double>("--alert-probability") { Description = "Chance that one co-residency probe raises an alert (on-alert strategy).", DefaultValueFactory = _ => d.AlertProbability };
        var seed = new Option<int>("--seed") { Description = "Seed; the same seed gives identical output.", DefaultValueFactory = _ => d.Seed };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON instead of Markdown." };
        var outDir = new Option<DirectoryInfo?>("--out") { Description = "Directory to write figure4, figure5 and cost as .svg and .png into (created if missing)." };

        var cmd = new Command(
            "simulate",
            "Simulate co-residency attacks against a target sandbox under each relocation strategy (static, periodic, Poisson; random, min-Δ, max-Δ destination; on alert) "
            + "and print the tables behind RELOCATE's Figures 4 (campaigns resisted vs attacker sandboxes) and 5 (survival over time).\n"
            + "Example: moat mtd simulate --seed 7 --trials 200 --out ./mtd-figures");
        foreach (var o in new Option[] { hosts, slots, attackers, attackHours, probeHours, horizon, trials, rate, threshold, noThreshold, period, aim, adaptive, alert, seed, json, outDir })
        {
            cmd.Options.Add(o);
        }

        cmd.SetAction(async (parseResult, cancellationToken) =>
        {
            var stdout = parseResult.InvocationConfiguration.Output;
            var stderr = parseResult.InvocationConfiguration.Error;
            var k = parseResult.GetValue(attackers);
            var options = d with
            {
                Hosts = parseResult.GetValue(hosts),
                SlotsPerHost = parseResult.GetValue(slots),
                AttackerSandboxes = k,
                AttackerSweep = d.AttackerSweep.Contains(k) ? d.AttackerSweep : [.. d.AttackerSweep.Append(k).Order()],
                AttackHours = parseResult.GetValue(attackHours),
                ProbeHours = parseResult.GetValue(probeHours),
                HorizonHours = parseResult.GetValue(horizon),
                Trials = parseResult.GetValue(trials),
                PoissonRatePerHour = parseResult.GetValue(rate),
                ThresholdHours = parseResult.GetValue(noThreshold) ? null : parseResult.GetValue(threshold),
                PeriodHours = parseResult.GetValue(period),
                AttackerAim = parseResult.GetValue(aim),
                AdaptiveAttacker = parseResult.GetValue(adaptive),
                AlertProbability = parseResult.GetValue(alert),
                Seed = parseResult.GetValue(seed),
            };
            if (options.Validate() is { } error)
            {
                await stderr.WriteLineAsync(error).ConfigureAwait(false);
                return 2;
            }

            var report = CoResidencySimulator.Run(options, cancellationToken);
            await stdout.WriteLineAsync(parseResult.GetValue(json) ? ReportWriter.ToJson(report) : ReportWriter.ToMarkdown(report)).ConfigureAwait(false);

            if (parseResult.GetValue(outDir) is { } dir)
            {
                try
                {
                    dir.Create();
                    await FigureFiles.WriteAsync(report, dir.FullName, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    await stderr.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"Could not write the figures into '{dir.FullName}': {e.Message}")).ConfigureAwait(false);
                    return 1;
                }
            }

            return 0;
        });
        return cmd;
    }
}
