using Moat.Images.Store;

namespace Moat.Host.Tests.Integration;

/// <summary>
/// One real image store for the whole test run, holding the busybox image built by Moat.Images from Debian's
/// busybox-static; every test agent's state folder links to it, as several hosts would share a read-only mirror.
/// </summary>
internal static class SharedImages
{
    private static readonly Lazy<Task<string>> Root = new(BuildAsync);

    public static Task<string> RootAsync() => Root.Value;

    private static async Task<string> BuildAsync()
    {
        var root = Path.Combine(Path.GetTempPath(), $"moat-it-images-{Environment.ProcessId}");
        var store = ImageStore.Open(root);
        if (store.Resolve("busybox") is null)
        {
            await store.BuildBusyboxAsync();
        }

        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(root, recursive: true);
        return root;
    }
}
