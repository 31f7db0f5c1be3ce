namespace Moat.Control.Tests.Api;

/// <summary>Plain HTTP only on loopback: anywhere else the control plane refuses to start without TLS, in one sentence.</summary>
[Trait("Category", "Hostile")]
public sealed class ListenOptionsHostileTests
{
    [Theory]
    [InlineData("0.0.0.0:7443", "not a loopback address")]
    [InlineData("198.18.0.1:7443", "not a loopback address")]
    [InlineData("[::]:7443", "not a loopback address")]
    [InlineData("127.0.0.1", "not ADDR:PORT")]
    [InlineData("127.0.0.1:0", "not ADDR:PORT")]
    [InlineData("127.0.0.1:99999", "not ADDR:PORT")]
    [InlineData("localhost:7443", "not ADDR:PORT")]
    [InlineData("127.0.0.1:7443\n", "not ADDR:PORT")]
    public async Task A_listen_address_that_would_carry_keys_in_the_clear_or_is_not_one_is_refused_before_anything_is_written(string listen, string says)
    {
        var dir = Path.Combine(Path.GetTempPath(), "moat-control-listen-" + Guid.NewGuid().ToString("N")[..8]);
        var e = await Assert.ThrowsAsync<ControlInputException>(() => ControlServer.BuildAsync(new ControlOptions { Listen = listen, StateDir = dir }));
        Assert.Contains(says, e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir));
    }

    [Fact]
    public async Task Tls_needs_both_a_certificate_and_a_key_that_exist()
    {
        var dir = Path.Combine(Path.GetTempPath(), "moat-control-listen-" + Guid.NewGuid().ToString("N")[..8]);
        var e = await Assert.ThrowsAsync<ControlInputException>(() => ControlServer.BuildAsync(new ControlOptions { Listen = "0.0.0.0:7443", StateDir = dir, TlsCert = "/nonexistent.pem" }));
        Assert.Contains("--tls-key", e.Message, StringComparison.Ordinal);
        e = await Assert.ThrowsAsync<ControlInputException>(() => ControlServer.BuildAsync(new ControlOptions
        {
            Listen = "0.0.0.0:7443",
            StateDir = dir,
            TlsCert = "/nonexistent.pem",
            TlsKey = "/nonexistent.key",
        }));
        Assert.Contains("does not exist", e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dir));
    }
}
