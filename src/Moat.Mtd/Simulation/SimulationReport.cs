namespace Moat.Mtd.Simulation;

/// <summary>Everything one simulation run produced: the tables behind the paper's Figures 4 and 5 and a per-strategy summary.</summary>
/// <param name="Options">The options it ran with.</param>
/// <param name="Figure4">Attack campaigns resisted against the attacker's fleet size (time migration).</param>
/// <param name="Figure5">Target survival probability over time (space migration).</param>
/// <param name="Summary">Per-strategy figures at the default attacker fleet size.</param>
/// <param name="Cost">What each relocation rate buys: one row per rate and clock, at the default attacker fleet size.</param>
/// <param name="CostFigure">Campaigns resisted against the rate (λ, or 1/interval for the periodic clock).</param>
public sealed record SimulationReport(SimulationOptions Options, Figure Figure4, Figure Figure5, IReadOnlyList<StrategySummary> Summary, IReadOnlyList<CostPoint> Cost, Figure CostFigure);

/// <summary>One point of the cost sweep.</summary>
/// <param name="RatePerHour">λ for the Poisson clock, 1/interval for the periodic one.</param>
/// <param name="Summary">How the strategy fared at that rate.</param>
public sealed record CostPoint(double RatePerHour, StrategySummary Summary);

/// <summary>A chart as data: one x axis and one y series per strategy.</summary>
/// <param name="Title">What the chart shows.</param>
/// <param name="XLabel">The x axis.</param>
/// <param name="YLabel">The y axis.</param>
/// <param name="X">The x values.</param>
/// <param name="Series">One series per strategy, each as long as <paramref name="X"/>.</param>
public sealed record Figure(string Title, string XLabel, string YLabel, IReadOnlyList<double> X, IReadOnlyList<Series> Series);

/// <summary>One line (or bar group) of a figure.</summary>
/// <param name="Name">The strategy.</param>
/// <param name="Values">y per x.</param>
public sealed record Series(string Name, IReadOnlyList<double> Values);

/// <summary>How one strategy fared.</summary>
/// <param name="Strategy">Its label.</param>
/// <param name="Timing">Its relocation policy.</param>
/// <param name="Trials">Campaigns simulated.</param>
/// <param name="CampaignsResistedPercent">Campaigns that ended without a successful attack.</param>
/// <param name="AttemptsResistedPercent">Attacks begun while co-resident that a move broke, of those that ended (broken or succeeded).</param>
/// <param name="MeanHoursToCompromise">Mean time to the successful attack among compromised campaigns, or null if none.</param>
/// <param name="RelocationsPerHour">Moves of the target per hour of campaign actually run: the cost of the strategy (a compromised campaign stops early, often before its first long dwell ends, so this sits below the nominal rate when many campaigns are lost).</param>
/// <param name="NominalRelocationsPerHour">The clock's own rate, 1/E[dwell] (0 for static and on-alert).</param>
/// <param name="MeanDeltaPerMove">Mean heterogeneity Δ of a move.</param>
/// <param name="AlertsPerCampaign">Alerts raised per campaign (on-alert strategy).</param>
public sealed record StrategySummary(
    string Strategy,
    string Timing,
    int Trials,
    double CampaignsResistedPercent,
    double AttemptsResistedPercent,
    double? MeanHoursToCompromise,
    double RelocationsPerHour,
    double NominalRelocationsPerHour,
    double MeanDeltaPerMove,
    double AlertsPerCampaign);
