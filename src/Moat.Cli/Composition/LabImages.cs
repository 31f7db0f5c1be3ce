using Moat.Images.Store;
using Moat.Mtd.Cli;

namespace Moat.Cli.Composition;

/// <summary>The image `moat mtd lab` runs: Debian's busybox-static as an image store of its own, and the agents'
/// catalog over it.</summary>
public static class LabImages
{
    public static LabImageSource Source { get; } = new(PrepareAsync, ImageCatalog.ForStateDir);

    private static async Task PrepareAsync(string folder, CancellationToken cancellationToken)
    {
        var store = ImageStore.Open(folder);
        if (store.Resolve("busybox") is null)
        {
            await store.BuildBusyboxAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        }
    }
}
