using Moat.Mtd.Placement;

namespace Moat.Mtd.Tests.Placement;

public sealed class PlacementPolicyTests
{
    private static readonly HostConfiguration s_debian = new(RuntimeTier.Container, "6.18", "debian-12");
    private static readonly HostConfiguration s_alpine = new(RuntimeTier.Gvisor, "6.1", "alpine-3.20");
    private static readonly NetworkLocation s_segA = new("seg-a", "uplink-1");
    private static readonly NetworkLocation s_segB = new("seg-b", "uplink-2");

    private static HostInfo Host(string id, HostConfiguration c, NetworkLocation n, string[] services, int capacity = 4, int used = 0, params string[] tenants) =>
        new(id, c, n, new HashSet<string>(services, StringComparer.Ordinal), capacity, used, new HashSet<string>(tenants, StringComparer.Ordinal));

    // source; "same" is identical to it; "far" differs in every feature; "mid" differs in network only.
    private static readonly HostInfo s_source = Host("source", s_debian, s_segA, ["web", "db"]);
    private static readonly HostInfo s_same = Host("same", s_debian, s_segA, ["web", "db"]);
    private static readonly HostInfo s_mid = Host("mid", s_debian, s_segB, ["web", "db"]);
    private static readonly HostInfo s_far = Host("far", s_alpine, s_segB, ["ml", "mail"]);

    private static readonly SandboxInfo s_sandbox = new("sb-1", "tenant-a", "source");

    private static IPlacementPolicy Max() => new HeterogeneityPlacementPolicy(HeterogeneityWeights.Default);

    [Fact]
    public void Delta_MatchesHandComputedFeatureDistances()
    {
        // Tier differs only (1/3 of C), segment differs only (1/2 of N), services {web,db} vs {web,dns}: Jaccard 1 − 1/3.
        var a = Host("a", s_debian, s_segA, ["web", "db"]);
        var b = Host("b", s_debian with { Tier = RuntimeTier.Vm }, s_segA with { Segment = "seg-z" }, ["web", "dns"]);
        var expected = (0.4 * (1.0 / 3)) + (0.3 * 0.5) + (0.3 * (2.0 / 3));
        Assert.Equal(expected, HeterogeneityScale.Compute(a, b, HeterogeneityWeights.Default), 12);
        Assert.Equal(expected, HeterogeneityScale.Compute(b, a, HeterogeneityWeights.Default), 12);
        Assert.Equal(0, HeterogeneityScale.Compute(a, a, HeterogeneityWeights.Default));
        Assert.Equal(1.0, HeterogeneityScale.Compute(s_source, s_far, HeterogeneityWeights.Default), 12);
    }

    [Fact]
    public void Cpu_and_runtime_count_only_when_both_hosts_published_them()
    {
        var intel = s_debian with { Cpu = "Intel Xeon Gold 6338", Runtime = "runc version 1.1.5" };
        var amd = s_debian with { Cpu = "AMD EPYC 7B13", Runtime = "runc version 1.1.5" };
        var silent = s_debian;

        // Five features compared, one differs.
        Assert.Equal(1.0 / 5, HeterogeneityScale.ConfigurationDistance(intel, amd), 12);
        // A host that publishes nothing is compared on tier, kernel and OS only: the same here.
        Assert.Equal(0, HeterogeneityScale.ConfigurationDistance(intel, silent));
        // Another runtime version and another CPU: two of five.
        Assert.Equal(2.0 / 5, HeterogeneityScale.ConfigurationDistance(intel, amd with { Runtime = "crun version 1.8.1" }), 12);
    }

    [Fact]
    public void MaxDelta_ChoosesMostDifferentHost()
    {
        var decision = Max().ChooseDestination(s_sandbox, [s_source, s_same, s_mid, s_far], PlacementConstraints.None);
        Assert.Equal(PlacementOutcome.Chosen, decision.Outcome);
        Assert.Equal("far", decision.Host!.Id);
        Assert.Equal(1.0, decision.Heterogeneity, 12);
    }

    [Fact]
    public void MinDelta_NeverChoosesSource_EvenThoughSourceHasLowestDelta()
    {
        var min = new HeterogeneityPlacementPolicy(HeterogeneityWeights.Default, HeterogeneityPreference.Minimize);
        var decision = min.ChooseDestination(s_sandbox, [s_source, s_far, s_same], PlacementConstraints.None);
        Assert.Equal("same", decision.Host!.Id);
    }

    [Fact]
    public void NoHostOtherThanSource_GivesNoDestination()
    {
        var decision = Max().ChooseDestination(s_sandbox, [s_source], PlacementConstraints.None);
        Assert.Null(decision.Host);
        Assert.Equal(PlacementOutcome.NoOtherHost, decision.Outcome);
    }

    [Fact]
    public void FullHost_IsSkipped_EvenWithHighestDelta()
    {
        var fullFar = s_far with { Used = s_far.Capacity };
        var decision = Max().ChooseDestination(s_sandbox, [s_source, fullFar, s_mid], PlacementConstraints.None);
        Assert.Equal("mid", decision.Host!.Id);
    }

    [Fact]
    public void SandboxNeedingMoreSlotsThanAnyHostHas_GivesNoCapacity()
    {
        var big = s_sandbox with { Slots = 5 };
        var decision = Max().ChooseDestination(big, [s_source, s_far, s_mid], PlacementConstraints.None);
        Assert.Null(decision.Host);
        Assert.Equal(PlacementOutcome.NoCapacity, decision.Outcome);
    }

    [Fact]
    public void AntiAffinityTenant_ExcludesHostsWhereItRuns()
    {
        var farWithSuspect = s_far with { Tenants = new HashSet<string>(["evil"], StringComparer.Ordinal) };
        var decision = Max().ChooseDestination(s_sandbox, [s_source, farWithSuspect, s_mid], PlacementConstraints.AwayFrom("evil", null));
        Assert.Equal("mid", decision.Host!.Id);
    }

    [Fact]
    public void AwayFromSuspectHost_ExcludesIt_AndAllExcludedIsReported()
    {
        var decision = Max().ChooseDestination(s_sandbox, [s_source, s_far], PlacementConstraints.AwayFrom(null, "far"));
        Assert.Null(decision.Host);
        Assert.Equal(PlacementOutcome.Excluded, decision.Outcome);
    }

    [Fact]
    public void UnknownSource_IsReported()
    {
        var decision = Max().ChooseDestination(s_sandbox with { HostId = "elsewhere" }, [s_far, s_mid], PlacementConstraints.None);
        Assert.Equal(PlacementOutcome.UnknownSource, decision.Outcome);
        Assert.Null(decision.Host);
    }

    [Fact]
    public void MaxDelta_KeepsAwayFromPreviousHosts_NotOnlyTheSource()
    {
        // From "far", the greedy choice would be "same" (Δ = 1), which is a copy of the host the sandbox came from.
        var sandbox = new SandboxInfo("sb-1", "tenant-a", "far", 1, ["source"]);
        var third = Host("third", new HostConfiguration(RuntimeTier.Vm, "6.6", "fedora-41"), new NetworkLocation("seg-c", "uplink-1"), ["queue"]);
        var decision = Max().ChooseDestination(sandbox, [s_source, s_same, s_far, third], PlacementConstraints.None);
        Assert.Equal("third", decision.Host!.Id);
    }

    [Fact]
    public void Random_NeverChoosesSourceOrExcludedHost_AndReachesEveryEligibleHost()
    {
        var policy = new RandomPlacementPolicy(new Random(3));
        var excluded = s_mid with { Id = "excluded" };
        var hosts = new[] { s_source, s_same, s_far, excluded };
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < 200; i++)
        {
            var d = policy.ChooseDestination(s_sandbox, hosts, PlacementConstraints.AwayFrom(null, "excluded"));
            seen.Add(d.Host!.Id);
        }

        Assert.Equal(["far", "same"], seen.Order(StringComparer.Ordinal));
    }
}
