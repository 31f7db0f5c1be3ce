using Moat.Detect.Detectors;
using Moat.Detect.Flows;
using static Moat.Detect.Tests.Detectors.EventFactory;

namespace Moat.Detect.Tests.Detectors;

public sealed class ThresholdRandomWalkTests
{
    [Fact]
    public void PaperParameters_FlagAfterFourFailedFirstContacts_AsTheMathSays()
    {
        // Jung et al.: each failure multiplies Λ by (1-θ1)/(1-θ0) = 0.8/0.2 = 4; η1 = PD/PF = 0.99/0.01 = 99.
        // The smallest n with 4^n >= 99 is 4 (4^3 = 64 < 99 <= 256 = 4^4).
        var o = DetectorOptions.Default;
        double perFailure = (1 - o.TrwTheta1) / (1 - o.TrwTheta0);
        double eta1 = o.TrwDetectionProbability / o.TrwFalsePositiveProbability;
        int expected = (int)Math.Ceiling(Math.Log(eta1) / Math.Log(perFailure));
        Assert.Equal(4, expected);
        Assert.Equal(99, ThresholdRandomWalk.UpperThreshold(o), 9);
        Assert.Equal(0.01 / 0.99, ThresholdRandomWalk.LowerThreshold(o), 9);

        var trw = new ThresholdRandomWalk(o);
        var alerts = new List<Alert>();
        int failuresWhenFlagged = 0;
        for (int i = 1; i <= 10 && alerts.Count == 0; i++)
        {
            string target = $"198.19.252.{i + 10}";
            trw.Observe(Tcp(FlowEventKind.Attempt, "198.19.252.2", target, 80, i), alerts);
            trw.Observe(Tcp(FlowEventKind.TimedOut, "198.19.252.2", target, 80, i + 5), alerts);
            failuresWhenFlagged = i;
        }

        Assert.Equal(expected, failuresWhenFlagged);
        var alert = Assert.Single(alerts);
        Assert.Equal(AlertKinds.ThresholdRandomWalk, alert.Detector);
        Assert.Equal(4, alert.Evidence["failures"]);
    }

    [Fact]
    public void RepeatedContactsToTheSameHost_AreNotFirstContacts()
    {
        var trw = new ThresholdRandomWalk(DetectorOptions.Default);
        var alerts = new List<Alert>();
        for (int port = 1; port <= 50; port++)
        {
            trw.Observe(Tcp(FlowEventKind.Attempt, "198.19.252.2", "198.19.252.9", port), alerts);
            trw.Observe(Tcp(FlowEventKind.Refused, "198.19.252.2", "198.19.252.9", port), alerts);
        }

        Assert.Empty(alerts);
    }

    [Fact]
    public void SuccessesInBetween_KeepABenignHostBelowTheThreshold()
    {
        // Two successes then a failure, repeated: each round multiplies Λ by 0.25 · 0.25 · 4 = 0.25, so the walk
        // drifts towards η0 and never reaches η1 = 99 (a single round peaks at 4 < 99).
        var trw = new ThresholdRandomWalk(DetectorOptions.Default);
        var alerts = new List<Alert>();
        for (int i = 0; i < 60; i++)
        {
            string target = $"198.19.{i / 200}.{(i % 200) + 1}";
            trw.Observe(Tcp(FlowEventKind.Attempt, "198.19.252.2", target, 443, i), alerts);
            var kind = i % 3 == 2 ? FlowEventKind.TimedOut : FlowEventKind.Established;
            trw.Observe(Tcp(kind, "198.19.252.2", target, 443, i + 0.1), alerts);
        }

        Assert.Empty(alerts);
    }
}
