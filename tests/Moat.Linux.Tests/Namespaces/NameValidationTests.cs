using Moat.Linux.Namespaces;

namespace Moat.Linux.Tests.Namespaces;

public sealed class NameValidationTests
{
    [Fact]
    public void NamespacePath_IsUnderRunNetns()
    {
        Assert.Equal("/run/netns/mtlx", NetworkNamespace.PathOf("mtlx"));
    }

    [Theory]
    [InlineData("net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward")]
    [InlineData("net/ipv4/conf/eth0.100/proxy_arp", "/proc/sys/net/ipv4/conf/eth0.100/proxy_arp")]
    public void SysctlPath_MapsDottedAndSlashKeys(string key, string path)
    {
        Assert.Equal(path, Sysctl.PathOf(key));
    }

    [Theory]
    [InlineData("net/../../etc/passwd")]
    [InlineData("")]
    public void SysctlPath_Invalid_ThrowsNamingTheKey(string key)
    {
        var error = Assert.Throws<ArgumentException>(() => Sysctl.PathOf(key));
        Assert.Contains($"'{key}'", error.Message);
    }
}
