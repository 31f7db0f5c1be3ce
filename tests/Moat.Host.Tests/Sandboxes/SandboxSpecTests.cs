using Moat.Host;
using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Sandboxes;

public sealed class SandboxSpecTests
{
    private const long HostMemory = 4L << 30;

    [Fact]
    public void Default_spec_is_valid() => SandboxSpec.Default.Validate(HostMemory, 2);

    [Theory]
    [InlineData("Upper")]
    [InlineData("-leading-dash")]
    [InlineData("has space")]
    [InlineData("a-name-that-is-much-too-long-for-a-sandbox-name")]
    public void Validate_bad_name_names_the_field(string name)
    {
        var e = Assert.Throws<InvalidRequestException>(() => (SandboxSpec.Default with { Name = name }).Validate(HostMemory, 2));
        Assert.Contains($"name '{name}'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_memory_above_host_is_exhaustion_not_bad_input()
    {
        var spec = SandboxSpec.Default with { MemoryBytes = HostMemory + 1 };
        var e = Assert.Throws<ResourceExhaustedException>(() => spec.Validate(HostMemory, 2));
        Assert.Contains("more than this host has", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    [InlineData(3.0)]
    [InlineData(double.NaN)]
    public void Validate_cpus_outside_host_is_refused(double cpus) =>
        Assert.Throws<InvalidRequestException>(() => (SandboxSpec.Default with { Cpus = cpus }).Validate(HostMemory, 2));

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(70000)]
    public void Validate_pids_out_of_range_is_refused(int pids) =>
        Assert.Throws<InvalidRequestException>(() => (SandboxSpec.Default with { Pids = pids }).Validate(HostMemory, 2));

    [Fact]
    public void Validate_env_name_with_equals_is_refused() =>
        Assert.Throws<InvalidRequestException>(() =>
            (SandboxSpec.Default with { Env = new Dictionary<string, string> { ["A=B"] = "c" } }).Validate(HostMemory, 2));

    [Fact]
    public void Validate_tiny_memory_is_refused() =>
        Assert.Throws<InvalidRequestException>(() => (SandboxSpec.Default with { MemoryBytes = 1024 }).Validate(HostMemory, 2));

    [Theory]
    [Trait("Category", "Hostile")]
    [InlineData(0)]
    [InlineData(1024 * 1024)]
    [InlineData(long.MaxValue)]
    public void Validate_a_disk_out_of_range_names_the_field_and_the_range(long bytes)
    {
        var e = Assert.Throws<InvalidRequestException>(() => (SandboxSpec.Default with { DiskBytes = bytes }).Validate(HostMemory, 2));
        Assert.StartsWith("disk ", e.Message, StringComparison.Ordinal);
        Assert.Contains("at least 32 MiB", e.Message, StringComparison.Ordinal);
    }
}
