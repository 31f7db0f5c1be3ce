using System.Globalization;
using Moat.Mtd.Placement;

namespace Moat.Mtd.Simulation;

/// <summary>Parameters of the co-residency attack simulation; every field has the value behind docs/mtd.md by default.</summary>
public sealed record SimulationOptions
{
    /// <summary>The default scenario.</summary>
    public static SimulationOptions Default { get; } = new();

    /// <summary>Number of hosts (the paper's testbed had 30).</summary>
    public int Hosts { get; init; } = 30;

    /// <summary>Sandbox slots per host.</summary>
    public int SlotsPerHost { get; init; } = 8;

    /// <summary>Sandboxes the attacker keeps launched at once.</summary>
    public int AttackerSandboxes { get; init; } = 8;

    /// <summary>Attacker fleet sizes swept for Figure 4.</summary>
    public IReadOnlyList<int> AttackerSweep { get; init; } = [1, 2, 4, 8, 16];

    /// <summary>Relocation rates (per hour) swept for the cost table, for the Poisson and the periodic clock.</summary>
    public IReadOnlyList<double> RateSweep { get; init; } = [0.25, 0.5, 1, 2, 4];

    /// <summary>Mean time an attack needs while co-resident; each attempt draws uniformly from [0.5, 1.5] times it.</summary>
    public double AttackHours { get; init; } = 2.0;

    /// <summary>Time for one attacker sandbox to launch and test co-residency.</summary>
    public double ProbeHours { get; init; } = 0.25;

    /// <summary>Length of one attack campaign.</summary>
    public double HorizonHours { get; init; } = 48;

    /// <summary>Independent campaigns per strategy and point.</summary>
    public int Trials { get; init; } = 400;

    /// <summary>λ of the Poisson clock, relocations per hour.</summary>
    public double PoissonRatePerHour { get; init; } = 1.0;

    /// <summary>T, the cap on the Poisson clock's dwell; null for none.</summary>
    public double? ThresholdHours { get; init; } = 3.0;

    /// <summary>Interval of the periodic clock.</summary>
    public double PeriodHours { get; init; } = 1.0;

    /// <summary>How strongly the attacker's launches land near the target's launch profile (β in e^(−βΔ)); 0 is uniform.</summary>
    public double AttackerAim { get; init; } = 4.0;

    /// <summary>Whether the attacker re-aims its launches at the target's new host after every move (it learns the new address at once); false keeps aiming at the launch profile.</summary>
    public bool AdaptiveAttacker { get; init; }

    /// <summary>Chance that one co-residency probe by the attacker raises an alert (on-alert strategy only).</summary>
    public double AlertProbability { get; init; } = 0.5;

    /// <summary>Heterogeneity weights.</summary>
    public HeterogeneityWeights Weights { get; init; } = HeterogeneityWeights.Default;

    /// <summary>Seed of every random draw; the same seed gives the same report.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Checks the options; returns one sentence naming the bad input and what would be valid, or null when valid.</summary>
    public string? Validate()
    {
        static bool Positive(double v) => double.IsFinite(v) && v > 0;
        var c = CultureInfo.InvariantCulture;
        if (Hosts < 2)
        {
            return string.Create(c, $"--hosts must be at least 2 (a sandbox needs a host to move to), not {Hosts}.");
        }

        if (SlotsPerHost < 2)
        {
            return string.Create(c, $"--slots must be at least 2 (the target and one attacker), not {SlotsPerHost}.");
        }

        if (AttackerSandboxes < 1 || AttackerSweep.Any(k => k < 1))
        {
            return "--attackers must be at least 1.";
        }

        if ((long)Hosts * SlotsPerHost < AttackerSweep.Append(AttackerSandboxes).Max() + 1 + Hosts)
        {
            return string.Create(c, $"--attackers {AttackerSweep.Append(AttackerSandboxes).Max()} do not fit on {Hosts} hosts of {SlotsPerHost} slots; use fewer attackers or more hosts.");
        }

        if (!Positive(AttackHours))
        {
            return string.Create(c, $"--attack-hours must be a positive number of hours, not {AttackHours}.");
        }

        if (!Positive(ProbeHours))
        {
            return string.Create(c, $"--probe-hours must be a positive number of hours, not {ProbeHours}.");
        }

        if (!Positive(HorizonHours))
        {
            return string.Create(c, $"--horizon-hours must be a positive number of hours, not {HorizonHours}.");
        }

        if (Trials < 1)
        {
            return string.Create(c, $"--trials must be at least 1, not {Trials}.");
        }

        if (!Positive(PoissonRatePerHour))
        {
            return string.Create(c, $"--rate must be a positive number of relocations per hour, not {PoissonRatePerHour}.");
        }

        if (ThresholdHours is { } t && !Positive(t))
        {
            return string.Create(c, $"--threshold-hours must be a positive number of hours (or omitted), not {t}.");
        }

        if (RateSweep.Any(r => !Positive(r)))
        {
            return "Every rate of the cost sweep must be a positive number of relocations per hour.";
        }

        if (!Positive(PeriodHours))
        {
            return string.Create(c, $"--period-hours must be a positive number of hours, not {PeriodHours}.");
        }

        if (!double.IsFinite(AttackerAim) || AttackerAim < 0)
        {
            return string.Create(c, $"--aim must be zero or a positive number, not {AttackerAim}.");
        }

        if (!double.IsFinite(AlertProbability) || AlertProbability < 0 || AlertProbability > 1)
        {
            return string.Create(c, $"--alert-probability must be between 0 and 1, not {AlertProbability}.");
        }

        if (Weights.Configuration < 0 || Weights.Network < 0 || Weights.Services < 0)
        {
            return "Heterogeneity weights must be zero or positive.";
        }

        return null;
    }
}
