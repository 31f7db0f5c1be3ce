namespace Moat.Mtd.Relocation.Lab;

/// <summary>Nearest-rank percentiles of measured times, as the lab and the relocation benchmark report them.</summary>
public static class Percentiles
{
    /// <summary>The nearest-rank <paramref name="p"/>th percentile of <paramref name="values"/>; NaN when there are none.</summary>
    public static double Of(IEnumerable<double> values, int p)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(p, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(p, 100);
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p / 100.0 * sorted.Count) - 1, 0, sorted.Count - 1)];
    }
}
