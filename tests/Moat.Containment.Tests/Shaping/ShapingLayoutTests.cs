using System.Net;
using Moat.Containment.Shaping;

namespace Moat.Containment.Tests.Shaping;

public sealed class ShapingLayoutTests
{
    public static TheoryData<int, string, string?, int> Cases => new()
    {
        { 1, "50mbit", null, 0 },
        { 2, "50mbit", "1mbit", 2 },
        { 4094, "1gbit", "10kbit", 14 },
        { 17, "16kbit", null, 14 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void SandboxUplinkClasses_LeafGuaranteesFitUnderTheCap(int slot, string egress, string? rest, int flows)
    {
        var rates = Rates(egress, rest, flows);
        var specs = ShapingLayout.SandboxUplinkClasses(slot, rates, BitRate.Parse("1mbit"));
        var cap = rates.Egress.BitsPerSecond;
        var aggregate = specs[0];
        Assert.Equal(cap, aggregate.CeilBitsPerSecond);
        Assert.True(aggregate.RateBitsPerSecond <= cap);
        var leaves = specs.Skip(1).ToList();
        Assert.Equal(flows + 1, leaves.Count);
        Assert.All(leaves, l => Assert.Equal(aggregate.ClassId, l.Parent));
        Assert.All(leaves, l => Assert.True(l.CeilBitsPerSecond <= cap && l.RateBitsPerSecond <= l.CeilBitsPerSecond));

        // HTB lets a leaf send at its own rate without asking its parent: the cap holds only if the leaves' rates fit in it.
        var leafSum = leaves.Aggregate(0UL, (s, l) => s + l.RateBitsPerSecond);
        Assert.True(leafSum <= aggregate.RateBitsPerSecond, $"leaves are guaranteed {leafSum} bit/s in total, more than the aggregate's {aggregate.RateBitsPerSecond}");
        Assert.All(specs, s => Assert.Equal(slot, ShapingLayout.SlotOf(s.ClassId)));
        Assert.Equal(specs.Count, specs.Select(s => s.ClassId).Distinct().Count());
    }

    [Fact]
    public void SlotsOfDifferentSandboxes_NeverShareAClassId()
    {
        var rates = Rates("10mbit", "1mbit", SandboxRates.MaxFlows);
        var ids = Enumerable.Range(1, ShapingLayout.MaxSlot)
            .SelectMany(slot => ShapingLayout.SandboxUplinkClasses(slot, rates, BitRate.Parse("1mbit")))
            .Select(s => s.ClassId.Value)
            .ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.DoesNotContain(ids, id => (id & 0xffff) is 0 or 1 or 2 or 3 or 0xffff);
    }

    [Fact]
    public void SandboxVethClasses_NoIngress_NoClasses() =>
        Assert.Empty(ShapingLayout.SandboxVethClasses(new SandboxRates { Egress = BitRate.Parse("10mbit") }));

    private static SandboxRates Rates(string egress, string? rest, int flows) => new()
    {
        Egress = BitRate.Parse(egress),
        Rest = rest is null ? null : BitRate.Parse(rest),
        Flows = [.. Enumerable.Range(0, flows).Select(i => new FlowClass($"f{i}", IPNetwork.Parse($"198.18.{i}.0/24")) { Rate = i % 2 == 0 ? null : BitRate.Minimum })],
    };
}
