namespace Moat.Mtd.Placement;

/// <summary>Weights of the three heterogeneity features; Δ lies in [0, sum of weights].</summary>
/// <param name="Configuration">w_c.</param>
/// <param name="Network">w_n.</param>
/// <param name="Services">w_s.</param>
public sealed record HeterogeneityWeights(double Configuration, double Network, double Services)
{
    /// <summary>0.4 / 0.3 / 0.3: the software stack is what an exploit is written against, so it weighs most.</summary>
    public static HeterogeneityWeights Default { get; } = new(0.4, 0.3, 0.3);
}

/// <summary>
/// RELOCATE's heterogeneity Δ = w_c(C_d−C_s) + w_n(N_d−N_s) + w_s(S_d−S_s), with each difference read as a distance
/// in [0, 1] between the destination's and the source's feature, so that Δ is symmetric and never negative.
/// </summary>
public static class HeterogeneityScale
{
    /// <summary>Δ between a source and a destination host.</summary>
    public static double Compute(HostInfo source, HostInfo destination, HeterogeneityWeights weights)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(weights);
        return (weights.Configuration * ConfigurationDistance(source.Configuration, destination.Configuration))
            + (weights.Network * NetworkDistance(source.Network, destination.Network))
            + (weights.Services * ServiceDistance(source.Services, destination.Services));
    }

    /// <summary>
    /// Share of {tier, kernel, OS image, and — when both hosts published them — CPU model and runtime version} that
    /// differ: an exploit for one stack rarely works on another.
    /// </summary>
    public static double ConfigurationDistance(HostConfiguration a, HostConfiguration b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var compared = 3;
        var differ = (a.Tier != b.Tier ? 1 : 0)
            + (string.Equals(a.Kernel, b.Kernel, StringComparison.Ordinal) ? 0 : 1)
            + (string.Equals(a.OsImage, b.OsImage, StringComparison.Ordinal) ? 0 : 1);
        foreach (var (x, y) in new[] { (a.Cpu, b.Cpu), (a.Runtime, b.Runtime) })
        {
            if (x is not null && y is not null)
            {
                compared++;
                differ += string.Equals(x, y, StringComparison.Ordinal) ? 0 : 1;
            }
        }

        return differ / (double)compared;
    }

    /// <summary>Share of {segment, uplink} that differ: a new segment invalidates an attacker's address map.</summary>
    public static double NetworkDistance(NetworkLocation a, NetworkLocation b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var differ = (string.Equals(a.Segment, b.Segment, StringComparison.Ordinal) ? 0 : 1)
            + (string.Equals(a.Uplink, b.Uplink, StringComparison.Ordinal) ? 0 : 1);
        return differ / 2.0;
    }

    /// <summary>Jaccard distance of the hosted service sets (two empty sets are identical).</summary>
    public static double ServiceDistance(IReadOnlySet<string> a, IReadOnlySet<string> b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var union = a.Count;
        var common = 0;
        foreach (var s in b)
        {
            if (a.Contains(s))
            {
                common++;
            }
            else
            {
                union++;
            }
        }

        return union == 0 ? 0 : 1.0 - ((double)common / union);
    }
}
