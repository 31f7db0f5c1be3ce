namespace Moat.Mtd.Simulation;

/// <summary>Runs the co-residency attack model for every strategy and builds the report; the same options (and seed) give the same report.</summary>
public static class CoResidencySimulator
{
    /// <summary>Strategies shown in Figure 4 (when to move).</summary>
    public static readonly IReadOnlyList<string> Figure4Strategies = ["static", "periodic+random", "poisson+random", "poisson+max-Δ"];

    /// <summary>Strategies shown in Figure 5 (where to move).</summary>
    public static readonly IReadOnlyList<string> Figure5Strategies = ["static", "poisson+min-Δ", "poisson+random", "poisson+max-Δ"];

    /// <summary>Runs the simulation; throws <see cref="ArgumentException"/> with the validation sentence on bad options.</summary>
    public static SimulationReport Run(SimulationOptions options, CancellationToken cancellationToken = default) =>
        Run(options, new RunCounters(), cancellationToken);

    /// <summary>Runs the simulation and counts campaigns and events into <paramref name="counters"/> (for the benchmark).</summary>
    internal static SimulationReport Run(SimulationOptions options, RunCounters counters, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Validate() is { } error)
        {
            throw new ArgumentException(error, nameof(options));
        }

        var fleet = HostFleet.Generate(options.Hosts, options.SlotsPerHost, new Random(Mix(options.Seed, 0x5eed, 0)));
        var strategies = Strategy.All(options);

        var summaryRuns = strategies.Select(s => RunTrials(options, s, fleet, options.AttackerSandboxes, counters, cancellationToken)).ToArray();
        var summary = strategies.Select((s, i) => Summarise(options, s, summaryRuns[i])).ToArray();

        var sweep = options.AttackerSweep;
        var fig4Series = new List<Series>();
        foreach (var name in Figure4Strategies)
        {
            var s = strategies.Single(x => x.Name == name);
            var values = sweep.Select(k => ResistedPercent(k == options.AttackerSandboxes
                ? summaryRuns[strategies.ToList().IndexOf(s)]
                : RunTrials(options, s, fleet, k, counters, cancellationToken))).ToArray();
            fig4Series.Add(new Series(name, values));
        }

        var figure4 = new Figure(
            "Attack campaigns resisted vs attacker sandboxes (time migration)",
            "attacker sandboxes",
            "campaigns resisted (%)",
            sweep.Select(k => (double)k).ToArray(),
            fig4Series);

        var steps = 24;
        var hours = Enumerable.Range(0, steps + 1).Select(i => Math.Round(options.HorizonHours * i / steps, 6)).ToArray();
        var fig5Series = Figure5Strategies.Select(name =>
        {
            var runs = summaryRuns[strategies.ToList().FindIndex(x => x.Name == name)];
            var values = hours.Select(t => Round(100.0 * runs.Count(r => r.CompromisedAtHours is not { } c || c > t) / runs.Length)).ToArray();
            return new Series(name, values);
        }).ToArray();
        var figure5 = new Figure(
            "Target survival probability over time (space migration)",
            "hours",
            "survival (%)",
            hours,
            fig5Series);

        // The cost sweep keeps max-Δ destinations and the threshold T, and varies only how often the target moves.
        var cost = new List<CostPoint>();
        foreach (var rate in options.RateSweep)
        {
            var swept = options with { PoissonRatePerHour = rate, PeriodHours = 1.0 / rate };
            foreach (var s in Strategy.All(swept).Where(x => x.Name is "poisson+max-Δ" or "periodic+max-Δ"))
            {
                cost.Add(new CostPoint(rate, Summarise(swept, s, RunTrials(swept, s, fleet, options.AttackerSandboxes, counters, cancellationToken))));
            }
        }

        var costSeries = new[] { "poisson", "periodic" }.SelectMany(clock => new[]
        {
            new Series(clock + " campaigns", cost.Where(p => p.Summary.Strategy == clock + "+max-Δ").Select(p => p.Summary.CampaignsResistedPercent).ToArray()),
            new Series(clock + " attacks", cost.Where(p => p.Summary.Strategy == clock + "+max-Δ").Select(p => p.Summary.AttemptsResistedPercent).ToArray()),
        }).ToArray();
        var costFigure = new Figure(
            "Resisted vs relocation rate (max-Δ destination)",
            "relocation rate λ (per hour)",
            "resisted (%)",
            options.RateSweep,
            costSeries);

        return new SimulationReport(options, figure4, figure5, summary, cost, costFigure);
    }

    private static TrialResult[] RunTrials(SimulationOptions options, Strategy strategy, Placement.HostInfo[] fleet, int attackers, RunCounters counters, CancellationToken cancellationToken)
    {
        var results = new TrialResult[options.Trials];

        // Each trial's seed depends on the run seed, the fleet size of the attacker and the trial index only, so
        // strategies meet the same draws where they can (common random numbers) and threads cannot change the result.
        Parallel.For(
            0,
            options.Trials,
            new ParallelOptions { CancellationToken = cancellationToken },
            t => results[t] = new CoResidencyTrial(options, strategy, fleet, attackers, new Random(Mix(options.Seed, attackers, t))).Run());
        counters.Campaigns += results.Length;
        counters.Events += results.Sum(r => (long)r.Events);
        return results;
    }

    private static StrategySummary Summarise(SimulationOptions options, Strategy strategy, TrialResult[] runs)
    {
        var compromised = runs.Where(r => r.CompromisedAtHours is not null).ToArray();
        var succeeded = compromised.Length;
        var broken = runs.Sum(r => (long)r.AttacksBroken);
        var moves = runs.Sum(r => (long)r.Relocations);

        // A compromised campaign ends early, so exposure time is the campaign's own length, not the horizon.
        var exposure = runs.Sum(r => r.CompromisedAtHours ?? options.HorizonHours);
        return new StrategySummary(
            strategy.Name,
            strategy.Timing.ToString(),
            runs.Length,
            ResistedPercent(runs),
            broken + succeeded == 0 ? 100 : Round(100.0 * broken / (broken + succeeded)),
            succeeded == 0 ? null : Round(compromised.Average(r => r.CompromisedAtHours!.Value)),
            exposure == 0 ? 0 : Round(moves / exposure),
            Round(strategy.Timing.ExpectedRelocationsPerHour),
            moves == 0 ? 0 : Round(runs.Sum(r => r.SumDelta) / moves),
            Round((double)runs.Sum(r => (long)r.Alerts) / runs.Length));
    }

    private static double ResistedPercent(TrialResult[] runs) =>
        Round(100.0 * runs.Count(r => r.CompromisedAtHours is null) / runs.Length);

    private static double Round(double v) => Math.Round(v, 4);

    /// <summary>SplitMix64 finaliser over the inputs: independent-looking seeds from structured ones.</summary>
    internal static int Mix(int seed, int a, int b)
    {
        var z = unchecked(((ulong)(uint)seed << 32) ^ ((ulong)(uint)a * 0x9E3779B97F4A7C15UL) ^ (uint)b);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        z ^= z >> 31;
        return (int)(z & 0x7FFFFFFF);
    }
}

/// <summary>Work done by one run, for the benchmark.</summary>
internal sealed class RunCounters
{
    public long Campaigns { get; set; }

    public long Events { get; set; }
}
