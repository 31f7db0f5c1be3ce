using System.CommandLine;
using System.Text.Json;
using Moat.Images.Cli;
using Moat.Images.Tests.Import;

namespace Moat.Images.Tests.Cli;

public sealed class ImageCommandsTests : IDisposable
{
    private readonly TempDir _temp = new();

    public void Dispose() => _temp.Dispose();

    private async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        var root = new RootCommand("test");
        root.Subcommands.Add(ImageCommands.Create());
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exitCode = await root.Parse(["image", "--state-dir", _temp.Path, .. args])
            .InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr });
        return (exitCode, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task BuildListInspectTagRemove_RoundTrip()
    {
        var build = await RunAsync("build", "busybox", "--tag", "bb");
        Assert.Equal(0, build.ExitCode);
        string digest = build.Stdout.Trim();
        Assert.Equal(64, digest.Length);

        var ls = await RunAsync("ls", "--json");
        using (JsonDocument list = JsonDocument.Parse(ls.Stdout))
        {
            JsonElement only = Assert.Single(list.RootElement.EnumerateArray().ToList());
            Assert.Equal(digest, only.GetProperty("digest").GetString());
            Assert.Equal("bb", only.GetProperty("tags")[0].GetString());
            Assert.Equal("/bin/sh", only.GetProperty("config").GetProperty("cmd")[0].GetString());
        }

        Assert.Equal(0, (await RunAsync("tag", digest[..8], "stable")).ExitCode);
        var inspect = await RunAsync("inspect", "stable", "--json");
        using (JsonDocument image = JsonDocument.Parse(inspect.Stdout))
        {
            Assert.Equal(digest, image.RootElement.GetProperty("digest").GetString());
            Assert.Equal("none", image.RootElement.GetProperty("packageManager").GetString());
        }

        var text = await RunAsync("inspect", "bb");
        Assert.Contains(Path.Combine(_temp.Path, "images", digest, "rootfs"), text.Stdout, StringComparison.Ordinal);

        Assert.Equal(0, (await RunAsync("rm", "stable")).ExitCode);
        Assert.Equal("[]", (await RunAsync("ls", "--json")).Stdout.Trim());
    }

    [Fact]
    public async Task Inspect_UnknownName_ExitsNonZeroWithOneSentence()
    {
        var result = await RunAsync("inspect", "nothing");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("No image is named 'nothing'; known images: none (build one with 'moat image build busybox').", result.Stderr.Trim());
    }

    [Fact]
    public async Task Import_HostileArchive_ExitsNonZeroAndSaysWhy()
    {
        string archive = _temp.Combine("hostile.tar");
        TestArchives.WriteDockerSave(archive, [TestArchives.Layer(LayerEntry.File("../../etc/cron.d/x", "pwned"))]);

        var result = await RunAsync("import", archive, "--tag", "hostile");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("contains '..'", result.Stderr, StringComparison.Ordinal);
        Assert.Equal("[]", (await RunAsync("ls", "--json")).Stdout.Trim());
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public async Task Import_PastTheMaxSizeGiven_ExitsNonZeroNamingTheLimit()
    {
        string archive = _temp.Combine("big.tar");
        TestArchives.WriteDockerSave(archive, [TestArchives.Gzip(TestArchives.Layer(LayerEntry.File("zeros", new string('\0', 64 << 10))))]);

        var result = await RunAsync("import", archive, "--tag", "big", "--max-size", "16K");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("more than 16384 bytes", result.Stderr, StringComparison.Ordinal);
        Assert.Equal("[]", (await RunAsync("ls", "--json")).Stdout.Trim());
    }

    [Theory]
    [InlineData("lots")]
    [InlineData("0")]
    [InlineData("99999999999G")]
    public async Task Import_MaxSizeThatIsNotASize_IsOneSentence(string size)
    {
        string archive = _temp.Combine("small.tar");
        TestArchives.WriteDockerSave(archive, [TestArchives.Layer(LayerEntry.File("a", "a"))]);

        var result = await RunAsync("import", archive, "--max-size", size);

        Assert.Equal(1, result.ExitCode);
        Assert.Equal($"--max-size '{size}' is not a size; give a positive number of bytes, optionally with a K, M or G suffix (e.g. 4G).", result.Stderr.Trim());
    }
}
