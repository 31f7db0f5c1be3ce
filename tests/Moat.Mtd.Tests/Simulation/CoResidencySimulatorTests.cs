using Moat.Mtd.Simulation;

namespace Moat.Mtd.Tests.Simulation;

public sealed class CoResidencySimulatorTests
{
    private static readonly SimulationOptions s_small = SimulationOptions.Default with { Trials = 60, AttackerSweep = [1, 4], AttackerSandboxes = 4, RateSweep = [1] };

    private static StrategySummary Row(SimulationReport r, string name) => r.Summary.Single(s => s.Strategy == name);

    [Fact]
    public void SameSeed_GivesIdenticalReport_DifferentSeedDoesNot()
    {
        var a = ReportWriter.ToJson(CoResidencySimulator.Run(s_small with { Seed = 11 }));
        var b = ReportWriter.ToJson(CoResidencySimulator.Run(s_small with { Seed = 11 }));
        var c = ReportWriter.ToJson(CoResidencySimulator.Run(s_small with { Seed = 12 }));
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void Static_ResistsNothing_WhenAttackerAlwaysLandsAndTargetNeverMoves()
    {
        // Two hosts and a long campaign: the attacker's relaunches reach the target's host, and it never leaves.
        var report = CoResidencySimulator.Run(s_small with { Hosts = 2, SlotsPerHost = 8, HorizonHours = 200 });
        var row = Row(report, "static");
        Assert.Equal(0, row.CampaignsResistedPercent);
        Assert.Equal(0, row.RelocationsPerHour);
        Assert.All(report.Figure4.Series.Single(s => s.Name == "static").Values, v => Assert.Equal(0, v));
    }

    [Fact]
    public void Periodic_ShorterThanShortestAttack_ResistsEveryCampaign_AtOneMovePerPeriod()
    {
        // Attacks take 0.5–1.5 × 2 h, so none fits between moves 0.9 h apart.
        var report = CoResidencySimulator.Run(s_small with { PeriodHours = 0.9, AttackHours = 2, HorizonHours = 45.45 });
        foreach (var name in new[] { "periodic+random", "periodic+max-Δ" })
        {
            var row = Row(report, name);
            Assert.Equal(100, row.CampaignsResistedPercent);
            Assert.Equal(100, row.AttemptsResistedPercent);
            Assert.Null(row.MeanHoursToCompromise);
            Assert.Equal(50.0 / 45.45, row.RelocationsPerHour, 3);
        }
    }

    [Fact]
    public void NominalRate_IsOneOverTruncatedExponentialMean_ForPoisson_AndZeroWithoutClock()
    {
        var report = CoResidencySimulator.Run(s_small with { PoissonRatePerHour = 1, ThresholdHours = 3 });
        Assert.Equal(1 / (1 - Math.Exp(-3)), Row(report, "poisson+max-Δ").NominalRelocationsPerHour, 3);
        Assert.Equal(0, Row(report, "static").NominalRelocationsPerHour);
        Assert.Equal(0, Row(report, "on-alert+max-Δ").NominalRelocationsPerHour);
    }

    [Fact]
    public void SurvivalCurves_StartAtAll_AndNeverRise()
    {
        var report = CoResidencySimulator.Run(s_small);
        Assert.Equal(0, report.Figure5.X[0]);
        Assert.Equal(s_small.HorizonHours, report.Figure5.X[^1], 9);
        foreach (var series in report.Figure5.Series)
        {
            Assert.Equal(100, series.Values[0]);
            for (var i = 1; i < series.Values.Count; i++)
            {
                Assert.True(series.Values[i] <= series.Values[i - 1], $"{series.Name} rises at {report.Figure5.X[i]} h");
            }
        }
    }

    [Fact]
    public void Survival_AtHorizon_EqualsCampaignsResisted()
    {
        var report = CoResidencySimulator.Run(s_small);
        foreach (var series in report.Figure5.Series)
        {
            Assert.Equal(Row(report, series.Name).CampaignsResistedPercent, series.Values[^1], 9);
        }
    }

    [Fact]
    public void OnAlert_WithNoAlerts_NeverMoves_AndWithCertainAlerts_BreaksAttacksBeforeTheyStart()
    {
        var silent = CoResidencySimulator.Run(s_small with { AlertProbability = 0 });
        Assert.Equal(0, Row(silent, "on-alert+max-Δ").RelocationsPerHour);
        Assert.Equal(0, Row(silent, "on-alert+max-Δ").AlertsPerCampaign);

        var loud = CoResidencySimulator.Run(s_small with { AlertProbability = 1 });
        foreach (var name in new[] { "on-alert+max-Δ", "poisson+alert+max-Δ" })
        {
            var row = Row(loud, name);
            Assert.Equal(100, row.CampaignsResistedPercent);
            Assert.True(row.AlertsPerCampaign > 0);
        }
    }

    [Fact]
    public void AdaptiveAttacker_WithoutAim_ChangesNothing_WithAim_ChangesResults()
    {
        static string Figures(SimulationReport r) =>
            ReportWriter.ToJson(r with { Options = SimulationOptions.Default });

        var uniform = s_small with { AttackerAim = 0 };
        Assert.Equal(
            Figures(CoResidencySimulator.Run(uniform)),
            Figures(CoResidencySimulator.Run(uniform with { AdaptiveAttacker = true })));
        Assert.NotEqual(
            Figures(CoResidencySimulator.Run(s_small)),
            Figures(CoResidencySimulator.Run(s_small with { AdaptiveAttacker = true })));
    }

    [Fact]
    public void Run_WithInvalidOptions_ThrowsWithTheValidationSentence()
    {
        var e = Assert.Throws<ArgumentException>(() => CoResidencySimulator.Run(s_small with { Hosts = 0 }));
        Assert.StartsWith("--hosts must be at least 2", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("hosts")]
    [InlineData("rate")]
    [InlineData("trials")]
    [InlineData("threshold")]
    [InlineData("alert")]
    public void Validate_NamesTheBadInput(string which)
    {
        var (options, flag) = which switch
        {
            "hosts" => (s_small with { Hosts = 0 }, "--hosts"),
            "rate" => (s_small with { PoissonRatePerHour = -2 }, "--rate"),
            "trials" => (s_small with { Trials = 0 }, "--trials"),
            "threshold" => (s_small with { ThresholdHours = 0 }, "--threshold-hours"),
            _ => (s_small with { AlertProbability = 1.5 }, "--alert-probability"),
        };
        var error = options.Validate();
        Assert.NotNull(error);
        Assert.StartsWith(flag, error, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error);
    }
}
