using Moat.Images.Store;

namespace Moat.Images.Build;

/// <summary>Fills a root file system with Debian's busybox-static, one link per applet and a minimal /etc.</summary>
internal static class BusyboxBuilder
{
    private const UnixFileMode Dir = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private const UnixFileMode Data = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    internal static ImageConfig Config { get; } = ImageConfig.Default with { Cmd = ["/bin/sh"] };

    internal static async Task BuildAsync(string rootfs, string busyboxPath, CancellationToken cancellationToken)
    {
        if (!File.Exists(busyboxPath))
        {
            throw new ImageBuildException($"Busybox binary {busyboxPath} does not exist; install Debian's busybox-static package.");
        }

        var applets = new List<string>();
        (int exitCode, IReadOnlyList<string> tail) = await ToolRunner.RunAsync(
            busyboxPath, ["--list-full"], line => applets.Add(line.Trim()), cancellationToken).ConfigureAwait(false);
        if (exitCode != 0 || applets.Count == 0)
        {
            throw new ImageBuildException(
                $"'{busyboxPath} --list-full' failed (exit {exitCode}): {string.Join(" | ", tail)}; a static busybox with --list-full is needed (busybox-static).");
        }

        // Explicit modes everywhere: the digest must not depend on the umask of whoever built the image.
        File.SetUnixFileMode(rootfs, Dir);
        foreach (string dir in new[] { "bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "var", "home", "root", "tmp" })
        {
            string path = Path.Combine(rootfs, dir);
            Directory.CreateDirectory(path);
            File.SetUnixFileMode(path, dir switch
            {
                "tmp" => Dir | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite | UnixFileMode.StickyBit,
                "root" => UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute,
                _ => Dir,
            });
        }

        string binary = Path.Combine(rootfs, "bin/busybox");
        File.Copy(busyboxPath, binary);
        File.SetUnixFileMode(binary, Dir);
        foreach (string applet in applets)
        {
            string relative = applet.TrimStart('/');
            if (relative.Length == 0 || relative == "bin/busybox" || relative.Contains("..", StringComparison.Ordinal))
            {
                continue;
            }

            string link = Path.Combine(rootfs, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(link)!);
            if (!Path.Exists(link))
            {
                File.CreateSymbolicLink(link, "/bin/busybox");
            }
        }

        WriteFile(rootfs, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
        WriteFile(rootfs, "etc/group", "root:x:0:\nnogroup:x:65534:\n");
        WriteFile(rootfs, "etc/hostname", "moat\n");
        WriteFile(rootfs, "etc/resolv.conf", "");
    }

    internal static void WriteFile(string rootfs, string relative, string content)
    {
        string path = Path.Combine(rootfs, relative);
        File.WriteAllText(path, content);
        File.SetUnixFileMode(path, Data);
    }
}
