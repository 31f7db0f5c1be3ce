using Moat.Images.Store;

namespace Moat.Images.Build;

/// <summary>How to build the Debian image; the mirror defaults to the one apt uses on this host.</summary>
public sealed record DebianBuildOptions(string Suite = "bookworm", string? Mirror = null, string DebootstrapPath = "/usr/sbin/debootstrap")
{
    public static DebianBuildOptions Default { get; } = new();
}

/// <summary>Runs debootstrap (minbase) into a root file system and resets the host-specific files it copies in.</summary>
internal static class DebianBuilder
{
    internal static async Task BuildAsync(
        string rootfs, string suite, string mirror, string debootstrap, IProgress<ImageProgress>? progress, CancellationToken cancellationToken)
    {
        long lines = 0;
        (int exitCode, IReadOnlyList<string> tail) = await ToolRunner.RunAsync(
            debootstrap,
            ["--variant=minbase", suite, rootfs, mirror],
            line => progress?.Report(new ImageProgress("debootstrap", line, Interlocked.Increment(ref lines))),
            cancellationToken).ConfigureAwait(false);
        if (exitCode != 0)
        {
            throw new ImageBuildException(
                $"debootstrap {suite} from {mirror} failed with exit code {exitCode}: {string.Join(" | ", tail.TakeLast(5))}");
        }

        // The downloaded packages (about half the tree) are already installed; images do not keep them.
        string archives = Path.Combine(rootfs, "var/cache/apt/archives");
        if (Directory.Exists(archives))
        {
            foreach (string deb in Directory.EnumerateFiles(archives, "*.deb"))
            {
                File.Delete(deb);
            }
        }

        // debootstrap copies the host's hostname and resolver; an image must not carry them.
        BusyboxBuilder.WriteFile(rootfs, "etc/hostname", "moat\n");
        string resolv = Path.Combine(rootfs, "etc/resolv.conf");
        File.Delete(resolv);
        BusyboxBuilder.WriteFile(rootfs, "etc/resolv.conf", "");
    }
}
