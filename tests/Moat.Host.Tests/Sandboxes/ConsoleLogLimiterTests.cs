using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Sandboxes;

[Trait("Category", "Hostile")]
public sealed class ConsoleLogLimiterTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("moat-console-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Trim_a_log_past_its_cap_keeps_a_marker_and_the_tail()
    {
        var path = Path.Combine(_dir, "console.log");
        var text = string.Concat(Enumerable.Range(0, 100_000).Select(i => $"line {i}\n"));
        File.WriteAllText(path, text);
        var at = new DateTimeOffset(2026, 12, 7, 1, 0, 0, TimeSpan.Zero);

        var dropped = ConsoleLogLimiter.Trim(path, 64 * 1024, at);

        var after = File.ReadAllText(path);
        Assert.True(after.Length <= 64 * 1024, $"{after.Length} bytes");
        Assert.StartsWith("[moat: console log passed its cap of 65536 bytes at 2026-12-07T01:00:00.0000000+00:00;", after, StringComparison.Ordinal);
        Assert.EndsWith("line 99999\n", after, StringComparison.Ordinal);
        Assert.Equal(text.Length - (32 * 1024), dropped);
    }

    [Fact]
    public void Trim_leaves_a_log_within_its_cap_and_a_missing_one_alone()
    {
        var path = Path.Combine(_dir, "console.log");
        File.WriteAllText(path, "short\n");
        Assert.Null(ConsoleLogLimiter.Trim(path, 1024, DateTimeOffset.UnixEpoch));
        Assert.Equal("short\n", File.ReadAllText(path));
        Assert.Null(ConsoleLogLimiter.Trim(Path.Combine(_dir, "absent.log"), 1024, DateTimeOffset.UnixEpoch));
    }
}
