using System.Diagnostics;
using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Integration;

/// <summary>
/// A busybox root file system built once per test run from Debian's busybox-static, offered under the name
/// "busybox" (the agent's image catalog is an interface; the real image store is tested in Moat.Images.Tests).
/// </summary>
internal sealed class TestImages : IImageCatalog
{
    private static readonly Lazy<string> Rootfs = new(Build);

    public static readonly TestImages Instance = new();

    public const string Digest = "7e57b0c5000000000000000000000000000000000000000000000000000000ff";

    public ResolvedImage Resolve(string reference) =>
        reference is "busybox" or Digest
            ? new ResolvedImage(Digest, Rootfs.Value, ["PATH=/bin:/sbin"], [])
            : throw new InvalidRequestException($"image '{reference}' is not on this host; known images: busybox.", notFound: true);

    private static string Build()
    {
        var root = Path.Combine(Path.GetTempPath(), $"moat-test-busybox-{Environment.ProcessId}", "rootfs");
        if (Directory.Exists(root))
        {
            return root;
        }

        foreach (var d in new[] { "bin", "sbin", "etc", "tmp", "proc", "sys", "dev", "root", "data", "usr/bin" })
        {
            Directory.CreateDirectory(Path.Combine(root, d));
        }

        File.Copy("/bin/busybox", Path.Combine(root, "bin/busybox"));
        var list = Process.Start(new ProcessStartInfo("/bin/busybox", "--list") { RedirectStandardOutput = true })!;
        var applets = list.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        list.WaitForExit();
        foreach (var a in applets.Where(a => a != "busybox"))
        {
            File.CreateSymbolicLink(Path.Combine(root, "bin", a), "busybox");
        }

        File.WriteAllText(Path.Combine(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
        File.WriteAllText(Path.Combine(root, "etc/group"), "root:x:0:\n");
        File.SetUnixFileMode(Path.Combine(root, "tmp"), (UnixFileMode)0b1_111_111_111);
        return root;
    }
}
