using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Moat.Images.Store;

/// <summary>The content identity of an unpacked tree: digest, total file size and entry count.</summary>
internal sealed record TreeSummary(string Digest, long Size, long FileCount);

/// <summary>
/// Computes an image ID from the tree alone, so the same content gets the same ID however it was built
/// (debootstrap, busybox, any archive layout). The serialization is specified in docs/images.md:
/// header "moat-tree-v1\0", then one record per entry, the root "." first and the rest sorted by the bytes of
/// their UTF-8 path; a record is eight NUL-terminated fields: path, type, mode, uid, gid, size, content, target.
/// </summary>
internal static class TreeDigest
{
    private static readonly byte[] Header = "moat-tree-v1\0"u8.ToArray();

    internal static TreeSummary Compute(string root, CancellationToken cancellationToken = default)
    {
        var entries = new List<(byte[] Key, string Relative, FileStat Stat)>();
        Collect(root, "", entries, cancellationToken);
        entries.Sort((a, b) => a.Key.AsSpan().SequenceCompareTo(b.Key));

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Header);
        FileStat rootStat = Interop.Libc.LStat(root) ?? throw new DirectoryNotFoundException($"Tree root {root} does not exist.");
        Append(hash, ".", rootStat, root);

        long size = 0;
        foreach (var (_, relative, stat) in entries)
        {
            cancellationToken.ThrowIfCancellationRequested();
            Append(hash, relative, stat, Path.Combine(root, relative));
            if (stat.IsRegularFile)
            {
                size += stat.Size;
            }
        }

        return new TreeSummary(Convert.ToHexStringLower(hash.GetHashAndReset()), size, entries.Count);
    }

    private static void Collect(string root, string relativeDir, List<(byte[], string, FileStat)> entries, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        string dir = relativeDir.Length == 0 ? root : Path.Combine(root, relativeDir);
        foreach (string full in Directory.EnumerateFileSystemEntries(dir))
        {
            string name = Path.GetFileName(full);
            string relative = relativeDir.Length == 0 ? name : relativeDir + "/" + name;
            FileStat stat = Interop.Libc.LStat(full) ?? throw new IOException($"{full} vanished while the image tree was being read.");
            entries.Add((Encoding.UTF8.GetBytes(relative), relative, stat));
            if (stat.IsDirectory)
            {
                Collect(root, relative, entries, cancellationToken);
            }
        }
    }

    private static void Append(IncrementalHash hash, string relative, FileStat stat, string fullPath)
    {
        string type;
        string content = "";
        string target = "";
        long size = 0;
        if (stat.IsRegularFile)
        {
            type = "f";
            size = stat.Size;
            content = HashFile(fullPath);
        }
        else if (stat.IsDirectory)
        {
            type = "d";
        }
        else if (stat.IsSymlink)
        {
            type = "l";
            target = new FileInfo(fullPath).LinkTarget ?? "";
        }
        else if (stat.IsCharDevice || stat.IsBlockDevice)
        {
            type = stat.IsCharDevice ? "c" : "b";
            target = string.Create(CultureInfo.InvariantCulture, $"{stat.RdevMajor}:{stat.RdevMinor}");
        }
        else
        {
            type = stat.IsFifo ? "p" : "s";
        }

        string record = string.Create(
            CultureInfo.InvariantCulture,
            $"{relative}\0{type}\0{Convert.ToString(stat.Permissions, 8).PadLeft(4, '0')}\0{stat.Uid}\0{stat.Gid}\0{size}\0{content}\0{target}\0");
        hash.AppendData(Encoding.UTF8.GetBytes(record));
    }

    private static string HashFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
