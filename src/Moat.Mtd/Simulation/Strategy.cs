using Moat.Mtd.Placement;
using Moat.Mtd.Policy;

namespace Moat.Mtd.Simulation;

/// <summary>How a destination is picked in the simulation.</summary>
internal enum DestinationChoice
{
    /// <summary>Uniform among eligible hosts.</summary>
    Random,

    /// <summary>Highest Δ from the source (RELOCATE).</summary>
    MaxHeterogeneity,

    /// <summary>Lowest Δ from the source.</summary>
    MinHeterogeneity,
}

/// <summary>A defence strategy: a relocation policy for the target and a way to choose its destination.</summary>
/// <param name="Name">Short label used in tables and charts.</param>
/// <param name="Timing">When the target moves.</param>
/// <param name="Destination">Where it moves.</param>
internal sealed record Strategy(string Name, RelocationPolicy Timing, DestinationChoice Destination)
{
    /// <summary>The strategies the simulator compares, in table order.</summary>
    public static IReadOnlyList<Strategy> All(SimulationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var poisson = RelocationPolicy.Poisson(
            options.PoissonRatePerHour,
            options.ThresholdHours is { } t ? TimeSpan.FromHours(t) : null);
        var periodic = RelocationPolicy.Periodic(TimeSpan.FromHours(options.PeriodHours));
        return
        [
            new("static", RelocationPolicy.Off, DestinationChoice.Random),
            new("periodic+random", periodic, DestinationChoice.Random),
            new("poisson+random", poisson, DestinationChoice.Random),
            new("poisson+min-Δ", poisson, DestinationChoice.MinHeterogeneity),
            new("poisson+max-Δ", poisson, DestinationChoice.MaxHeterogeneity),
            new("periodic+max-Δ", periodic, DestinationChoice.MaxHeterogeneity),
            new("on-alert+max-Δ", RelocationPolicy.OnAlert, DestinationChoice.MaxHeterogeneity),
            new("poisson+alert+max-Δ", poisson with { AlsoOnAlert = true }, DestinationChoice.MaxHeterogeneity),
        ];
    }

    internal IPlacementPolicy CreatePlacement(HeterogeneityWeights weights, Random random) => Destination switch
    {
        DestinationChoice.Random => new RandomPlacementPolicy(random, weights),
        DestinationChoice.MaxHeterogeneity => new HeterogeneityPlacementPolicy(weights, HeterogeneityPreference.Maximize, random),
        DestinationChoice.MinHeterogeneity => new HeterogeneityPlacementPolicy(weights, HeterogeneityPreference.Minimize, random),
        _ => throw new MtdException($"Unknown destination choice {Destination}."),
    };
}
