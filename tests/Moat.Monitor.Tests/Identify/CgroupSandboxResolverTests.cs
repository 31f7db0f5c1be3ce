using Moat.Monitor.Identify;

namespace Moat.Monitor.Tests.Identify;

public sealed class CgroupSandboxResolverTests
{
    [Fact]
    public void Parse_V1HierarchiesWithMoatPath_ReturnsSandboxId() =>
        Assert.Equal("sb-42", CgroupSandboxResolver.Parse("12:pids:/moat/sb-42\n11:memory:/moat/sb-42\n1:name=systemd:/\n0::/\n"));

    [Fact]
    public void Parse_NestedCgroupInsideSandbox_ReturnsSandboxId() =>
        Assert.Equal("sb-7", CgroupSandboxResolver.Parse("4:cpu,cpuacct:/moat/sb-7/worker\n"));

    [Fact]
    public void Parse_HostProcess_ReturnsNull() =>
        Assert.Null(CgroupSandboxResolver.Parse("9:name=systemd:/\n4:memory:/process_api/88fc\n0::/\n"));

    [Fact]
    public void Resolve_ThisTestProcess_IsNotInASandbox() => Assert.Null(CgroupSandboxResolver.Resolve(Environment.ProcessId));

    [Fact]
    public void Resolve_MissingProcess_ReturnsNull() => Assert.Null(CgroupSandboxResolver.Resolve(int.MaxValue));
}
