using Moat.Cli.Composition;
using Moat.Images.Store;
using Moat.Mtd.Relocation.Lab;

namespace Moat.Mtd.Tests.Relocation;

/// <summary>One busybox image store for the whole run (built by Moat.Images from Debian's busybox-static), linked
/// into every lab host as its read-only image mirror.</summary>
internal static class LabImages
{
    private static readonly Lazy<Task<string>> Root = new(BuildAsync);

    public static async Task<SurrogateLab> StartLabAsync(int hosts = 2, int poolPrefixLength = 24, bool fabric = false) =>
        await SurrogateLab.StartAsync(hosts, await Root.Value, ImageCatalog.ForStateDir, poolPrefixLength, fabric);

    private static async Task<string> BuildAsync()
    {
        var root = Path.Combine(Path.GetTempPath(), $"moat-mtd-images-{Environment.ProcessId}");
        var store = ImageStore.Open(root);
        if (store.Resolve("busybox") is null)
        {
            await store.BuildBusyboxAsync();
        }

        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(root, recursive: true);
        return root;
    }
}
