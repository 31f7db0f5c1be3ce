using Moat.Mtd.Policy;

namespace Moat.Mtd.Tests.Policy;

public sealed class RelocationPolicyTests
{
    // Five standard errors: a correct sampler fails this bound with probability below 1e-6.
    private const double Sigmas = 5.0;

    [Theory]
    [InlineData(0.5)]
    [InlineData(2.0)]
    [InlineData(12.0)]
    public void PurePoisson_MeanDwell_IsOneOverLambdaWithinFiveStandardErrors(double lambda)
    {
        var policy = RelocationPolicy.Poisson(lambda);
        var random = new Random(42);
        const int n = 20_000;
        var sum = 0.0;
        for (var i = 0; i < n; i++)
        {
            sum += policy.NextDwell(random)!.Value.TotalHours;
        }

        // Exp(λ) has standard deviation 1/λ, so the sample mean's standard error is 1/(λ√n).
        var mean = sum / n;
        var standardError = 1.0 / lambda / Math.Sqrt(n);
        Assert.InRange(mean, (1.0 / lambda) - (Sigmas * standardError), (1.0 / lambda) + (Sigmas * standardError));
    }

    [Fact]
    public void CappedPoisson_NeverExceedsThreshold_AndMeanMatchesTruncatedExponential()
    {
        const double lambda = 1.0;
        const double t = 1.5;
        var policy = (PoissonRelocationPolicy)RelocationPolicy.Poisson(lambda, TimeSpan.FromHours(t));
        var random = new Random(7);
        const int n = 20_000;
        var sum = 0.0;
        var atCap = 0;
        for (var i = 0; i < n; i++)
        {
            var d = policy.NextDwell(random)!.Value.TotalHours;
            Assert.True(d <= t, $"dwell {d} h exceeds the threshold {t} h");
            sum += d;
            atCap += d == t ? 1 : 0;
        }

        // Computed here from the exponential law, not from the policy: E[min(X,T)] = (1 − e^(−λT))/λ,
        // E[min(X,T)²] = 2(1 − e^(−λT)(1 + λT))/λ².
        var expectedMean = (1 - Math.Exp(-lambda * t)) / lambda;
        var secondMoment = 2 * (1 - (Math.Exp(-lambda * t) * (1 + (lambda * t)))) / (lambda * lambda);
        var standardError = Math.Sqrt((secondMoment - (expectedMean * expectedMean)) / n);
        Assert.InRange(sum / n, expectedMean - (Sigmas * standardError), expectedMean + (Sigmas * standardError));
        Assert.Equal(expectedMean, policy.MeanDwellHours, 12);

        // P(X > T) = e^(−λT): the share of dwells cut at the threshold is binomial around it.
        var p = Math.Exp(-lambda * t);
        var binomialError = Math.Sqrt(p * (1 - p) / n);
        Assert.InRange((double)atCap / n, p - (Sigmas * binomialError), p + (Sigmas * binomialError));
    }

    [Fact]
    public void PoissonClock_CountsPerHour_HaveMeanAndVarianceLambda()
    {
        // The paper's P(X=k) = λ^k e^(−λ)/k!: moves counted over unit windows are Poisson(λ), so mean = variance = λ.
        const double lambda = 3.0;
        const int windows = 20_000;
        var policy = RelocationPolicy.Poisson(lambda);
        var random = new Random(2026);
        var counts = new int[windows];
        var time = 0.0;
        while (true)
        {
            time += policy.NextDwell(random)!.Value.TotalHours;
            if (time >= windows)
            {
                break;
            }

            counts[(int)time]++;
        }

        var mean = counts.Average();
        var variance = counts.Sum(c => (c - mean) * (c - mean)) / (windows - 1);

        // Var(mean) = λ/n; Var(s²) ≈ (μ4 − σ⁴)/n with μ4 = λ + 3λ² for a Poisson law.
        Assert.InRange(mean, lambda - (Sigmas * Math.Sqrt(lambda / windows)), lambda + (Sigmas * Math.Sqrt(lambda / windows)));
        var varianceError = Math.Sqrt((lambda + (2 * lambda * lambda)) / windows);
        Assert.InRange(variance, lambda - (Sigmas * varianceError), lambda + (Sigmas * varianceError));
    }

    [Fact]
    public void Periodic_AlwaysReturnsItsInterval()
    {
        var policy = RelocationPolicy.Periodic(TimeSpan.FromMinutes(90));
        var random = new Random(1);
        Assert.All(Enumerable.Range(0, 10), _ => Assert.Equal(TimeSpan.FromMinutes(90), policy.NextDwell(random)));
        Assert.Equal(1 / 1.5, policy.ExpectedRelocationsPerHour, 12);
    }

    [Fact]
    public void OffAndOnAlert_HaveNoClock_OnlyOnAlertMovesOnAlert()
    {
        var random = new Random(1);
        Assert.Null(RelocationPolicy.Off.NextDwell(random));
        Assert.Null(RelocationPolicy.OnAlert.NextDwell(random));
        Assert.False(RelocationPolicy.Off.MovesOnAlert);
        Assert.True(RelocationPolicy.OnAlert.MovesOnAlert);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void Poisson_RejectsRateThatIsNotPositiveAndFinite(double rate)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => RelocationPolicy.Poisson(rate));
    }

    [Fact]
    public void Periodic_RejectsNonPositiveInterval()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => RelocationPolicy.Periodic(TimeSpan.Zero));
    }
}
