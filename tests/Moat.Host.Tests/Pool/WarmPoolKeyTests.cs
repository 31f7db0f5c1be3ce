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
}
