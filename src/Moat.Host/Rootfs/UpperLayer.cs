using System.Formats.Tar;
using System.Security.Cryptography;

namespace Moat.Host.Rootfs;

/// <summary>One change a sandbox made to its root file system (the overlay's upper layer against the image).</summary>
public sealed record FileChange(string Path, string Change, string Type, long Bytes, string? Sha256);

/// <summary>
/// An overlay's upper layer as evidence: archived as a tar (which keeps each entry's type from lstat, so deletions
/// stay whiteouts) and read back as the list of changes against the image.
/// </summary>
public static class UpperLayer
{
    public static Task ArchiveAsync(string upperDir, string tar, CancellationToken cancellationToken = default) =>
        TarFile.CreateFromDirectoryAsync(upperDir, tar, includeBaseDirectory: false, cancellationToken);

    /// <summary>
    /// Reads the upper layer back from its tar (which keeps each entry's type from lstat): a whiteout (character device
    /// 0:0) is a deletion; a path the image has is a modification; anything else was added.
    /// </summary>
    public static async Task<List<FileChange>> ChangesAsync(string tar, string? imageRootfs, CancellationToken cancellationToken = default)
    {
        var changes = new List<FileChange>();
        await using var stream = File.OpenRead(tar);
        await using var reader = new TarReader(stream);
        while (await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
        {
            var rel = "/" + entry.Name.TrimStart('.', '/').TrimEnd('/');
            if (rel == "/")
            {
                continue;
            }

            var inImage = imageRootfs is not null && Path.Exists(Path.Combine(imageRootfs, rel.TrimStart('/')));
            var change = inImage ? "modified" : "added";
            switch (entry.EntryType)
            {
                case TarEntryType.CharacterDevice when entry is PosixTarEntry { DeviceMajor: 0, DeviceMinor: 0 }:
                    changes.Add(new FileChange(rel, "deleted", "whiteout", 0, null));
                    break;
                case TarEntryType.Directory:
                    if (!inImage)
                    {
                        changes.Add(new FileChange(rel, change, "directory", 0, null));
                    }

                    break;
                case TarEntryType.SymbolicLink:
                    changes.Add(new FileChange(rel, change, "symlink -> " + entry.LinkName, 0, null));
                    break;
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile:
                    changes.Add(new FileChange(rel, change, "file", entry.Length,
                        entry.DataStream is { } data ? Convert.ToHexStringLower(await SHA256.HashDataAsync(data, cancellationToken).ConfigureAwait(false)) : null));
                    break;
                default:
                    changes.Add(new FileChange(rel, change, entry.EntryType.ToString().ToLowerInvariant(), 0, null));
                    break;
            }
        }

        changes.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return changes;
    }

}
