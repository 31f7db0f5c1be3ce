using Moat.Host.Pool;
using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Pool;

public sealed class WarmPoolKeyTests
{
    [Theory]
    [InlineData("busybox", "busybox", RuntimeTier.Container)]
    [InlineData("busybox@gvisor", "busybox", RuntimeTier.Gvisor)]
    [InlineData("busybox@container", "busybox", RuntimeTier.Container)]
    [InlineData("debian:12@vm", "debian:12", RuntimeTier.Vm)]
    [InlineData("odd@name", "odd@name", RuntimeTier.Container)] // not a tier after the @: the whole key is the image
    public void Pool_key_names_an_image_and_optionally_a_tier(string key, string image, RuntimeTier tier) =>
        Assert.Equal((image, tier), WarmPool.ParseKey(key));

    [Fact]
    public void A_key_without_a_tier_becomes_one_pool_per_tier_handed_out_and_a_named_tier_stays_alone()
    {
        var pools = WarmPool.Expand(
            new Dictionary<string, int> { ["busybox"] = 4, ["busybox@gvisor"] = 6, ["alpine@container"] = 2, ["odd@name"] = 1 },
            new HashSet<RuntimeTier> { RuntimeTier.Container, RuntimeTier.Gvisor });
        Assert.Equal(
            [("alpine", RuntimeTier.Container, 2), ("busybox", RuntimeTier.Container, 4), ("busybox", RuntimeTier.Gvisor, 6), ("odd@name", RuntimeTier.Container, 1), ("odd@name", RuntimeTier.Gvisor, 1)],
            pools.OrderBy(p => p.Image, StringComparer.Ordinal).ThenBy(p => p.Tier));
    }
}
