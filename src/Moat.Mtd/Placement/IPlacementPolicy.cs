namespace Moat.Mtd.Placement;

/// <summary>Chooses where a relocated sandbox goes; the host agent calls it when the relocation clock says a sandbox is due.</summary>
public interface IPlacementPolicy
{
    /// <summary>
    /// Picks a destination among <paramref name="hosts"/> (which include the source) that has room, is not the source and
    /// satisfies <paramref name="constraints"/>; returns no host, with the reason, when none qualifies.
    /// </summary>
    PlacementDecision ChooseDestination(SandboxInfo sandbox, IReadOnlyList<HostInfo> hosts, PlacementConstraints constraints);
}

/// <summary>The constraint filter every placement policy applies before it ranks hosts.</summary>
internal static class PlacementFilter
{
    /// <summary>Finds the source and the eligible hosts, or the decision that explains why there are none.</summary>
    public static PlacementDecision? Eligible(
        SandboxInfo sandbox,
        IReadOnlyList<HostInfo> hosts,
        PlacementConstraints constraints,
        List<HostInfo> eligible,
        out HostInfo? source)
    {
        ArgumentNullException.ThrowIfNull(sandbox);
        ArgumentNullException.ThrowIfNull(hosts);
        ArgumentNullException.ThrowIfNull(constraints);
        source = null;
        var others = 0;
        var withRoom = 0;
        foreach (var h in hosts)
        {
            if (string.Equals(h.Id, sandbox.HostId, StringComparison.Ordinal))
            {
                source = h;
                continue;
            }

            others++;
            if (h.Free < sandbox.Slots)
            {
                continue;
            }

            withRoom++;
            if (constraints.AvoidHostIds.Contains(h.Id) || h.Tenants.Overlaps(constraints.AntiAffinityTenants))
            {
                continue;
            }

            eligible.Add(h);
        }

        if (source is null)
        {
            return new PlacementDecision(null, PlacementOutcome.UnknownSource, $"The source host '{sandbox.HostId}' of sandbox '{sandbox.Id}' is not among the {hosts.Count} hosts offered.", 0);
        }

        if (others == 0)
        {
            return new PlacementDecision(null, PlacementOutcome.NoOtherHost, $"No host other than the source '{source.Id}' exists.", 0);
        }

        if (withRoom == 0)
        {
            return new PlacementDecision(null, PlacementOutcome.NoCapacity, $"None of the {others} other hosts has {sandbox.Slots} free slot(s).", 0);
        }

        if (eligible.Count == 0)
        {
            return new PlacementDecision(null, PlacementOutcome.Excluded, $"All {withRoom} hosts with room are excluded by anti-affinity or the avoid list.", 0);
        }

        return null;
    }
}
