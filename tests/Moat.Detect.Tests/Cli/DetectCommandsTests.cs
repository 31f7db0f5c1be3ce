using System.CommandLine;
using System.Text.Json;
using Moat.Detect.Capture;
using Moat.Detect.Cli;
using Moat.Detect.Tests.Conformance;

namespace Moat.Detect.Tests.Cli;

public sealed class DetectCommandsTests
{
    [Fact]
    public async Task Replay_Json_ListsThePortScan()
    {
        var (code, output, _) = await RunAsync("detect", "replay", ConformanceData.Path("traffic-scans", "ppa1e_portscan.pcap"), "--json");

        Assert.Equal(0, code);
        using var json = JsonDocument.Parse(output);
        Assert.Equal(29, json.RootElement.GetProperty("packets").GetInt64());
        var alert = Assert.Single(json.RootElement.GetProperty("alerts").EnumerateArray());
        Assert.Equal("port-scan", alert.GetProperty("detector").GetString());
        Assert.Equal("10.100.25.14", alert.GetProperty("source").GetString());
    }

    [Fact]
    public async Task Replay_FilterOut_WritesThePassedPackets()
    {
        string outPath = Path.Combine(Path.GetTempPath(), $"mtd-{Guid.NewGuid():N}.pcap");
        try
        {
            var (code, _, _) = await RunAsync(
                "detect", "replay", ConformanceData.Path("scan-snabb-suppression", "hygiene-check.pcap"),
                "--inside", "192.168.100.102/32", "--filter-out", outPath);

            Assert.Equal(0, code);
            Assert.Equal(5, CaptureReader.Read(File.ReadAllBytes(outPath)).Count());
        }
        finally
        {
            File.Delete(outPath);
        }
    }

    [Fact]
    public async Task Replay_UnknownDetector_FailsWithOneSentenceNamingTheValidOnes()
    {
        var (code, _, error) = await RunAsync("detect", "replay", ConformanceData.Path("traffic-scans", "ppa1e_portscan.pcap"), "--detector", "nope");

        Assert.NotEqual(0, code);
        Assert.Contains("'nope' is not a detector", error, StringComparison.Ordinal);
        Assert.Contains("port-scan", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Replay_NotACapture_FailsWithAClearSentence()
    {
        var (code, _, error) = await RunAsync("detect", "replay", ConformanceData.Path("traffic-scans", "SOURCE.txt"));

        Assert.Equal(1, code);
        Assert.Contains("could not be read", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckPolicy_Json_ResolvesEveryLevelAndKind()
    {
        string path = Path.Combine(Path.GetTempPath(), $"mtd-policy-{Guid.NewGuid():N}.yaml");
        try
        {
            await File.WriteAllTextAsync(path, "untrusted: { default: throttle, trw: kill }\n");

            var (code, output, _) = await RunAsync("detect", "check-policy", path, "--json");

            Assert.Equal(0, code);
            using var json = JsonDocument.Parse(output);
            Assert.Equal("kill", json.RootElement.GetProperty("untrusted").GetProperty("trw").GetString());
            Assert.Equal("throttle", json.RootElement.GetProperty("untrusted").GetProperty("port-scan").GetString());
            Assert.Equal("record", json.RootElement.GetProperty("trusted").GetProperty("trw").GetString());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task CheckPolicy_BadAction_FailsNamingIt()
    {
        string path = Path.Combine(Path.GetTempPath(), $"mtd-policy-{Guid.NewGuid():N}.yaml");
        try
        {
            await File.WriteAllTextAsync(path, "trusted: { trw: explode }\n");

            var (code, _, error) = await RunAsync("detect", "check-policy", path);

            Assert.Equal(1, code);
            Assert.Contains("Action 'explode'", error, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        var root = new RootCommand { DetectCommands.Create() };
        var output = new StringWriter();
        var error = new StringWriter();
        int code = await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
        return (code, output.ToString(), error.ToString());
    }
}
