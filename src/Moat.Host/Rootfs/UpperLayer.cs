using System.Formats.Tar;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using Moat.Linux.Files;

namespace Moat.Host.Rootfs;

/// <summary>One change a sandbox made to its root file system (the overlay's upper layer against the image).</summary>
public sealed record FileChange(string Path, string Change, string Type, long Bytes, string? Sha256);

/// <summary>
/// An overlay's upper layer as evidence: archived as a tar (each entry's type as it is, not followed, so deletions
/// stay whiteouts) and read back as the list of changes against the image.
/// </summary>
public static class UpperLayer
{
    /// <summary>
    /// Archives an upper layer that its tenant may still be changing. The walk holds a descriptor for each folder and
    /// opens every name relative to it with no symlink allowed (openat2 through <see cref="RootedReader"/>): a
    /// folder swapped for a symlink to a host folder mid-walk is archived as that symlink or not at all, never
    /// followed; only regular files are read, each for exactly the length it had when listed; a name that vanishes
    /// while being read is left out.
    /// </summary>
    public static async Task ArchiveAsync(string upperDir, string tar, CancellationToken cancellationToken = default)
    {
        using var root = RootedReader.Open(upperDir);
        await using var stream = File.Create(tar);
        await using var writer = new TarWriter(stream, TarEntryFormat.Pax);
        await WalkAsync(root, "", writer, cancellationToken).ConfigureAwait(false);
    }

    private static async Task WalkAsync(RootedReader folder, string prefix, TarWriter writer, CancellationToken cancellationToken)
    {
        foreach (string name in folder.List())
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (folder.Stat(name) is not { } status)
            {
                continue;
            }

            string path = prefix + name;
            switch (status.Kind)
            {
                case RootedFileKind.Directory:
                    using (var child = folder.TryOpenDirectory(name))
                    {
                        if (child is null)
                        {
                            break;
                        }

                        await writer.WriteEntryAsync(Entry(TarEntryType.Directory, path + "/", status), cancellationToken).ConfigureAwait(false);
                        await WalkAsync(child, path + "/", writer, cancellationToken).ConfigureAwait(false);
                    }

                    break;
                case RootedFileKind.Regular:
                    using (var file = folder.TryOpenRegular(name, RootedResolve.NoSymlinks))
                    {
                        if (file is null)
                        {
                            break;
                        }

                        var entry = Entry(TarEntryType.RegularFile, path, status);
                        entry.DataStream = new FixedLengthStream(file, status.Size);
                        await writer.WriteEntryAsync(entry, cancellationToken).ConfigureAwait(false);
                    }

                    break;
                case RootedFileKind.Symlink when folder.ReadLink(name) is { } target:
                    var link = Entry(TarEntryType.SymbolicLink, path, status);
                    link.LinkName = target;
                    await writer.WriteEntryAsync(link, cancellationToken).ConfigureAwait(false);
                    break;
                case RootedFileKind.CharacterDevice or RootedFileKind.BlockDevice:
                    var device = Entry(status.Kind == RootedFileKind.CharacterDevice ? TarEntryType.CharacterDevice : TarEntryType.BlockDevice, path, status);
                    device.DeviceMajor = (int)status.DeviceMajor;
                    device.DeviceMinor = (int)status.DeviceMinor;
                    await writer.WriteEntryAsync(device, cancellationToken).ConfigureAwait(false);
                    break;
                case RootedFileKind.Fifo:
                    await writer.WriteEntryAsync(Entry(TarEntryType.Fifo, path, status), cancellationToken).ConfigureAwait(false);
                    break;
                default:
                    break; // sockets (and a symlink gone since it was listed) have nothing a tar can keep
            }
        }
    }

    private static PaxTarEntry Entry(TarEntryType type, string path, RootedFileStatus status) => new(type, path)
    {
        Mode = status.Mode,
        Uid = (int)status.Uid,
        Gid = (int)status.Gid,
        ModificationTime = status.Modified,
    };

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
            // Only a "./" prefix is dropped: trimming every leading '.' would report a tenant's ".x" as "/x".
            var name = entry.Name.StartsWith("./", StringComparison.Ordinal) ? entry.Name[2..] : entry.Name;
            var rel = "/" + name.TrimStart('/').TrimEnd('/');
            if (rel == "/.")
            {
                continue;
            }

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

    /// <summary>
    /// A file read as exactly the length it was listed with: a tenant growing or truncating it while it is archived
    /// cannot make the tar entry disagree with its header (the missing tail reads as zeros).
    /// </summary>
    private sealed class FixedLengthStream(SafeFileHandle file, long length) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => true;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position { get; set; }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int wanted = (int)Math.Min(buffer.Length, length - Position);
            if (wanted <= 0)
            {
                return 0;
            }

            int read = RandomAccess.Read(file, buffer[..wanted], Position);
            if (read == 0)
            {
                buffer[..wanted].Clear();
                read = wanted;
            }

            Position += read;
            return read;
        }

        public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => Position + offset,
            _ => length + offset,
        };

        public override void Flush()
        {
        }

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
