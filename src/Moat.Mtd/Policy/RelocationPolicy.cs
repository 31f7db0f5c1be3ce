namespace Moat.Mtd.Policy;

/// <summary>When a sandbox (or every sandbox of a tenant) is moved to another host.</summary>
public abstract record RelocationPolicy
{
    private protected RelocationPolicy()
    {
    }

    /// <summary>Never relocate on a clock; alerts are ignored too.</summary>
    public static RelocationPolicy Off { get; } = new OffRelocationPolicy();

    /// <summary>Relocate after every <paramref name="interval"/>.</summary>
    public static RelocationPolicy Periodic(TimeSpan interval) => new PeriodicRelocationPolicy(interval);

    /// <summary>Relocate at the arrivals of a Poisson process of <paramref name="ratePerHour"/>, never later than <paramref name="threshold"/> after the last move.</summary>
    public static RelocationPolicy Poisson(double ratePerHour, TimeSpan? threshold = null) => new PoissonRelocationPolicy(ratePerHour, threshold);

    /// <summary>Relocate only when an alert names the sandbox as a victim.</summary>
    public static RelocationPolicy OnAlert { get; } = new OnAlertRelocationPolicy();

    /// <summary>Also move at once when an alert names the sandbox as a victim (set with <c>with { AlsoOnAlert = true }</c> on a clock policy).</summary>
    public bool AlsoOnAlert { get; init; }

    /// <summary>Whether an alert naming the sandbox as a victim makes it due at once.</summary>
    public virtual bool MovesOnAlert => AlsoOnAlert;

    /// <summary>" + alert" when the clock policy also moves on alerts, for labels.</summary>
    private protected string AlertSuffix => AlsoOnAlert ? "+alert" : "";

    /// <summary>
    /// How long the sandbox stays on its host from now (or from its last move) before the clock makes it due;
    /// null when only an alert (or nothing) moves it.
    /// </summary>
    public abstract TimeSpan? NextDwell(Random random);

    /// <summary>The policy's expected number of clock-driven relocations per hour (0 when it has no clock).</summary>
    public abstract double ExpectedRelocationsPerHour { get; }
}

/// <summary>No relocation at all.</summary>
public sealed record OffRelocationPolicy : RelocationPolicy
{
    internal OffRelocationPolicy()
    {
    }

    /// <summary>Off means off: alerts do not move the sandbox either.</summary>
    public override bool MovesOnAlert => false;

    /// <inheritdoc/>
    public override TimeSpan? NextDwell(Random random) => null;

    /// <inheritdoc/>
    public override double ExpectedRelocationsPerHour => 0;

    /// <inheritdoc/>
    public override string ToString() => "off";
}

/// <summary>A fixed dwell time between moves.</summary>
public sealed record PeriodicRelocationPolicy : RelocationPolicy
{
    internal PeriodicRelocationPolicy(TimeSpan interval)
    {
        if (interval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(interval), interval, "The relocation interval must be longer than zero.");
        }

        Interval = interval;
    }

    /// <summary>Time between two moves.</summary>
    public TimeSpan Interval { get; }

    /// <inheritdoc/>
    public override TimeSpan? NextDwell(Random random) => Interval;

    /// <inheritdoc/>
    public override double ExpectedRelocationsPerHour => 1.0 / Interval.TotalHours;

    /// <inheritdoc/>
    public override string ToString() => $"periodic({Interval.TotalHours:0.###}h){AlertSuffix}";
}

/// <summary>
/// RELOCATE's Poisson clock: moves are the arrivals of a Poisson process of rate λ (so the number of moves in
/// t hours is Poisson(λt) and dwell times are exponential with mean 1/λ, which a neighbour cannot predict);
/// the threshold T caps the dwell, because the paper's clock alerts once operation time exceeds T.
/// </summary>
public sealed record PoissonRelocationPolicy : RelocationPolicy
{
    internal PoissonRelocationPolicy(double ratePerHour, TimeSpan? threshold)
    {
        if (!double.IsFinite(ratePerHour) || ratePerHour <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(ratePerHour), ratePerHour, "The Poisson rate must be a finite number of relocations per hour above zero.");
        }

        if (threshold is { } t && t <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(threshold), threshold, "The threshold must be longer than zero, or absent for no cap.");
        }

        RatePerHour = ratePerHour;
        Threshold = threshold;
    }

    /// <summary>λ, relocations per hour.</summary>
    public double RatePerHour { get; }

    /// <summary>T, the longest a sandbox may stay on one host; null for a pure Poisson clock.</summary>
    public TimeSpan? Threshold { get; }

    /// <inheritdoc/>
    public override TimeSpan? NextDwell(Random random)
    {
        ArgumentNullException.ThrowIfNull(random);

        // Inverse transform: 1 - U lies in (0, 1], so the logarithm is finite.
        var hours = -Math.Log(1.0 - random.NextDouble()) / RatePerHour;
        if (Threshold is { } t && hours > t.TotalHours)
        {
            return t;
        }

        return TimeSpan.FromHours(hours);
    }

    /// <summary>E[min(X, T)] for X ~ Exp(λ): (1 − e^(−λT)) / λ, or 1/λ without a threshold.</summary>
    public double MeanDwellHours => Threshold is { } t
        ? (1.0 - Math.Exp(-RatePerHour * t.TotalHours)) / RatePerHour
        : 1.0 / RatePerHour;

    /// <summary>E[min(X, T)²] = 2(1 − e^(−λT)(1 + λT)) / λ², or 2/λ² without a threshold.</summary>
    public double SecondMomentDwellHours
    {
        get
        {
            var l = RatePerHour;
            if (Threshold is not { } t)
            {
                return 2.0 / (l * l);
            }

            var lt = l * t.TotalHours;
            return 2.0 * (1.0 - (Math.Exp(-lt) * (1.0 + lt))) / (l * l);
        }
    }

    /// <inheritdoc/>
    public override double ExpectedRelocationsPerHour => 1.0 / MeanDwellHours;

    /// <inheritdoc/>
    public override string ToString() => Threshold is { } t
        ? $"poisson(λ={RatePerHour:0.###}/h, T={t.TotalHours:0.###}h){AlertSuffix}"
        : $"poisson(λ={RatePerHour:0.###}/h){AlertSuffix}";
}

/// <summary>Relocate only when an alert names the sandbox as the victim, away from the suspect.</summary>
public sealed record OnAlertRelocationPolicy : RelocationPolicy
{
    internal OnAlertRelocationPolicy()
    {
    }

    /// <inheritdoc/>
    public override bool MovesOnAlert => true;

    /// <inheritdoc/>
    public override TimeSpan? NextDwell(Random random) => null;

    /// <inheritdoc/>
    public override double ExpectedRelocationsPerHour => 0;

    /// <inheritdoc/>
    public override string ToString() => "on-alert";
}
