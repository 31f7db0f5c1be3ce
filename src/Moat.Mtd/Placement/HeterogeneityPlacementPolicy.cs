namespace Moat.Mtd.Placement;

/// <summary>Which end of the heterogeneity scale a placement policy prefers.</summary>
public enum HeterogeneityPreference
{
    /// <summary>RELOCATE's choice: the most different host, so a vulnerability found on the source is not reused.</summary>
    Maximize,

    /// <summary>The most similar host; the paper's "low heterogeneity" baseline.</summary>
    Minimize,
}

/// <summary>
/// Chooses the eligible host with the highest (or lowest) Δ; a host's Δ is its smallest Δ from the source and the
/// sandbox's previous hosts, because greedy Δ from the source alone sends a sandbox straight back to hosts like the
/// one before (A→B→A-like), where an attacker who studied A is waiting. Ties go to the most free slots, then to the
/// random source if given, else the lowest id.
/// </summary>
public sealed class HeterogeneityPlacementPolicy : IPlacementPolicy
{
    private readonly HeterogeneityWeights _weights;
    private readonly HeterogeneityPreference _preference;
    private readonly Random? _random;

    /// <summary>Creates the policy; a seeded <paramref name="random"/> spreads ties so two equal hosts are not ping-ponged.</summary>
    public HeterogeneityPlacementPolicy(HeterogeneityWeights weights, HeterogeneityPreference preference = HeterogeneityPreference.Maximize, Random? random = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        _weights = weights;
        _preference = preference;
        _random = random;
    }

    /// <inheritdoc/>
    public PlacementDecision ChooseDestination(SandboxInfo sandbox, IReadOnlyList<HostInfo> hosts, PlacementConstraints constraints)
    {
        var eligible = new List<HostInfo>(hosts?.Count ?? 0);
        if (PlacementFilter.Eligible(sandbox, hosts!, constraints, eligible, out var source) is { } none)
        {
            return none;
        }

        var hostsById = new Dictionary<string, HostInfo>(StringComparer.Ordinal);
        foreach (var h in hosts!)
        {
            hostsById[h.Id] = h;
        }

        var sign = _preference == HeterogeneityPreference.Maximize ? 1.0 : -1.0;
        var best = new List<HostInfo>();
        var bestScore = double.NegativeInfinity;
        var bestFree = int.MinValue;
        var bestDelta = 0.0;
        foreach (var h in eligible)
        {
            var delta = HeterogeneityScale.Compute(source!, h, _weights);
            foreach (var previousId in sandbox.PreviousHostIds ?? [])
            {
                if (hostsById.TryGetValue(previousId, out var previous))
                {
                    delta = Math.Min(delta, HeterogeneityScale.Compute(previous, h, _weights));
                }
            }

            var score = sign * delta;

            // Δ is a sum of thirds, halves and set ratios; compare with a tolerance so equal hosts tie.
            if (score > bestScore + 1e-12 || (Math.Abs(score - bestScore) <= 1e-12 && h.Free > bestFree))
            {
                best.Clear();
                best.Add(h);
                bestScore = score;
                bestFree = h.Free;
                bestDelta = delta;
            }
            else if (Math.Abs(score - bestScore) <= 1e-12 && h.Free == bestFree)
            {
                best.Add(h);
            }
        }

        var chosen = _random is null
            ? best.MinBy(static h => h.Id, StringComparer.Ordinal)!
            : best[_random.Next(best.Count)];
        var word = _preference == HeterogeneityPreference.Maximize ? "highest" : "lowest";
        return new PlacementDecision(
            chosen,
            PlacementOutcome.Chosen,
            $"Host '{chosen.Id}' has the {word} heterogeneity Δ={bestDelta:0.###} from '{source!.Id}'{(sandbox.PreviousHostIds is { Count: > 0 } p ? $" and {p.Count} earlier host(s)" : "")} among {eligible.Count} eligible hosts.",
            bestDelta);
    }
}

/// <summary>Chooses uniformly among eligible hosts; the "random destination" baseline.</summary>
public sealed class RandomPlacementPolicy : IPlacementPolicy
{
    private readonly Random _random;
    private readonly HeterogeneityWeights _weights;

    /// <summary>Creates the policy with a (seeded) random source; <paramref name="weights"/> only label the decision with Δ.</summary>
    public RandomPlacementPolicy(Random random, HeterogeneityWeights? weights = null)
    {
        ArgumentNullException.ThrowIfNull(random);
        _random = random;
        _weights = weights ?? HeterogeneityWeights.Default;
    }

    /// <inheritdoc/>
    public PlacementDecision ChooseDestination(SandboxInfo sandbox, IReadOnlyList<HostInfo> hosts, PlacementConstraints constraints)
    {
        var eligible = new List<HostInfo>(hosts?.Count ?? 0);
        if (PlacementFilter.Eligible(sandbox, hosts!, constraints, eligible, out var source) is { } none)
        {
            return none;
        }

        var chosen = eligible[_random.Next(eligible.Count)];
        var delta = HeterogeneityScale.Compute(source!, chosen, _weights);
        return new PlacementDecision(chosen, PlacementOutcome.Chosen, $"Host '{chosen.Id}' was drawn at random among {eligible.Count} eligible hosts.", delta);
    }
}
