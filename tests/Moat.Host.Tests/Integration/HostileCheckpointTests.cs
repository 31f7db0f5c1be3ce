using System.Formats.Tar;
using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Integration;

/// <summary>
/// gVisor checkpoints are executable state: one that arrives with a sandbox's state is restored only when it is sealed
/// with this host's checkpoint key (made here, or by a host given the same key file). Anything else is discarded and
/// the sandbox boots afresh, and the import says why.
/// </summary>
[Trait("Category", "Hostile")]
[Trait("Category", "Integration")]
public sealed class HostileCheckpointTests
{
    [Fact]
    public async Task A_checkpoint_from_a_host_that_does_not_share_the_key_is_discarded_and_the_sandbox_boots_afresh()
    {
        await using var a = await AgentHarness.StartAsync();
        await using var b = await AgentHarness.StartAsync(pool: "198.19.1.0/24");
        var src = await a.Client.CreateAsync(GvisorCheckpointTests.Counter with { Name = "src" });
        var (token, _) = await GvisorCheckpointTests.ReadStateAsync(a.Client, "src");
        await a.Client.CheckpointAsync("src");
        var copy = await b.Client.ReserveAsync(new SandboxManifest(src.Spec, src.ImageDigest, src.Tier, src.Id));

        ImportResult imported;
        await using (var state = await a.Client.ExportStateAsync("src"))
        {
            imported = await b.Client.ImportStateAsync(copy.Id, state, start: true);
        }

        Assert.False(imported.Restored);
        Assert.Contains("seal was not made with this host's checkpoint key", imported.CheckpointDiscarded, StringComparison.Ordinal);
        Assert.Equal(SandboxState.Running, imported.Sandbox.State);
        var (tokenAfter, _) = await GvisorCheckpointTests.ReadStateAsync(b.Client, copy.Id);
        Assert.NotEqual(token, tokenAfter);
        Assert.False(Directory.Exists(Path.Combine(b.Options.StateDir, "sandboxes", copy.Id, "checkpoint")));
    }

    [Fact]
    public async Task A_checkpoint_altered_or_unsealed_in_transit_is_discarded_even_on_the_host_that_made_it()
    {
        await using var h = await AgentHarness.StartAsync();
        var src = await h.Client.CreateAsync(GvisorCheckpointTests.Counter with { Name = "src" });
        var (token, _) = await GvisorCheckpointTests.ReadStateAsync(h.Client, "src");
        await h.Client.CheckpointAsync("src");
        var original = new MemoryStream();
        await using (var state = await h.Client.ExportStateAsync("src"))
        {
            await state.CopyToAsync(original);
        }

        foreach (var (alter, why) in new (Func<TarEntry, bool>, string)[]
        {
            (e => e.Name.EndsWith("checkpoint/checkpoint.img", StringComparison.Ordinal), "seal was not made"), // one byte of the image flipped
            (e => e.Name.EndsWith("checkpoint/" + CheckpointSeal.FileName, StringComparison.Ordinal), "carries no seal"), // the seal left out
        })
        {
            var copy = await h.Client.ReserveAsync(new SandboxManifest(src.Spec with { Name = null }, src.ImageDigest, src.Tier, src.Id));
            original.Position = 0;

            var imported = await h.Client.ImportStateAsync(copy.Id, await RewriteAsync(original, alter), start: true);

            Assert.False(imported.Restored);
            Assert.Contains(why, imported.CheckpointDiscarded, StringComparison.Ordinal);
            Assert.Equal(SandboxState.Running, imported.Sandbox.State);
            Assert.NotEqual(token, (await GvisorCheckpointTests.ReadStateAsync(h.Client, copy.Id)).Token);
        }
    }

    /// <summary>Copies a tar stream, flipping the first byte of a matching file's data, or leaving the member out when it
    /// is the seal.</summary>
    private static async Task<MemoryStream> RewriteAsync(Stream input, Func<TarEntry, bool> match)
    {
        var output = new MemoryStream();
        await using (var reader = new TarReader(input, leaveOpen: true))
        await using (var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true))
        {
            while (await reader.GetNextEntryAsync(copyData: true) is { } entry)
            {
                if (!match(entry))
                {
                    await writer.WriteEntryAsync(entry);
                }
                else if (!entry.Name.EndsWith(CheckpointSeal.FileName, StringComparison.Ordinal))
                {
                    var data = new MemoryStream();
                    await entry.DataStream!.CopyToAsync(data);
                    var bytes = data.ToArray();
                    bytes[bytes.Length / 2] ^= 0xFF;
                    entry.DataStream = new MemoryStream(bytes);
                    await writer.WriteEntryAsync(entry);
                }
            }
        }

        output.Position = 0;
        return output;
    }
}
