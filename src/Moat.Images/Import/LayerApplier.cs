using System.Formats.Tar;
using System.Text;
using Moat.Images.Store;

namespace Moat.Images.Import;

/// <summary>
/// Applies image layers (tar streams) to a root file system in order, with OCI whiteouts. Every path is confined to the
/// root: absolute paths, ".." and writes through a symbolic link are refused, so nothing outside the root is touched.
/// </summary>
internal sealed class LayerApplier(string root, ImportLimits limits, IProgress<ImageProgress>? progress)
{
    private const string WhiteoutPrefix = ".wh.";
    private const string OpaqueMarker = ".wh..wh..opq";

    private readonly bool _keepOwners = Interop.Libc.GetEffectiveUserId() == 0;
    private long _bytes;
    private long _entries;
    private bool _warnedOwners;

    internal void Apply(Stream tar, string layer, CancellationToken cancellationToken)
    {
        var written = new HashSet<string>(StringComparer.Ordinal);
        var opaque = new List<string>();
        var directoryModes = new List<(string Path, UnixFileMode Mode)>();
        using var reader = new TarReader(new TarHeaderGuard(tar), leaveOpen: true);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            TarEntry? entry;
            try
            {
                entry = reader.GetNextEntry(copyData: false);
            }
            catch (Exception ex) when (IsTarDefect(ex))
            {
                throw new ImageArchiveException($"Layer {layer} is truncated or not a valid tar stream ({ex.Message}).", ex);
            }

            if (entry is null)
            {
                break;
            }

            if (++_entries > limits.MaxEntries)
            {
                throw new ImageArchiveException($"The archive has more than {limits.MaxEntries} entries, the import limit.");
            }

            ApplyEntry(entry, layer, written, opaque, directoryModes);
        }

        foreach (string dir in opaque)
        {
            RemoveNotWritten(dir, written);
        }

        // Modes of directories last and deepest first, so a read-only directory does not block its own children.
        foreach (var (path, mode) in directoryModes.OrderByDescending(d => d.Path.Length))
        {
            // Only what is still a directory: a later entry may have put a symbolic link there, and chmod follows links.
            if (Interop.Libc.LStat(path) is { IsDirectory: true })
            {
                File.SetUnixFileMode(path, mode);
            }
        }
    }

    private void ApplyEntry(TarEntry entry, string layer, HashSet<string> written, List<string> opaque, List<(string, UnixFileMode)> directoryModes)
    {
        if (entry.EntryType is TarEntryType.GlobalExtendedAttributes)
        {
            return;
        }

        string relative = Normalize(entry.Name, layer);
        if (relative.Length == 0)
        {
            if (entry.EntryType == TarEntryType.Directory)
            {
                directoryModes.Add((root, entry.Mode));
            }

            return;
        }

        if (Encoding.UTF8.GetByteCount(Path.Combine(root, relative)) >= PathMax)
        {
            throw new ImageArchiveException($"Entry '{entry.Name}' in layer {layer} makes a path of {PathMax} bytes or longer, more than Linux allows.");
        }

        string name = Path.GetFileName(relative);
        string parent = Path.GetDirectoryName(relative) ?? "";
        if (name.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
        {
            if (name[WhiteoutPrefix.Length..] is "." or "..")
            {
                throw new ImageArchiveException(
                    $"Entry '{entry.Name}' in layer {layer} is a whiteout of '.' or '..', which would remove its own folder or the one above the root, so the archive is refused.");
            }

            // A whiteout under a directory the lower layers never had hides nothing.
            if (!EnsureParent(parent, relative, layer, create: false))
            {
                return;
            }

            if (name == OpaqueMarker)
            {
                opaque.Add(parent);
                return;
            }

            string hidden = Combine(parent, name[WhiteoutPrefix.Length..]);
            if (!name.StartsWith(WhiteoutPrefix + WhiteoutPrefix, StringComparison.Ordinal) && !written.Contains(hidden))
            {
                Remove(Path.Combine(root, hidden));
            }

            return;
        }

        EnsureParent(parent, relative, layer);
        string full = Path.Combine(root, relative);
        switch (entry.EntryType)
        {
            case TarEntryType.Directory:
                if (Interop.Libc.LStat(full) is not { IsDirectory: true })
                {
                    Remove(full);
                    Directory.CreateDirectory(full);
                }

                SetOwner(full, entry);
                directoryModes.Add((full, entry.Mode));
                break;

            case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                Remove(full);
                WriteFile(full, entry, layer);
                SetOwner(full, entry);
                File.SetUnixFileMode(full, entry.Mode);
                File.SetLastWriteTimeUtc(full, entry.ModificationTime.UtcDateTime);
                break;

            case TarEntryType.SymbolicLink:
                if (entry.LinkName.Length == 0 || entry.LinkName.Contains('\0', StringComparison.Ordinal) || Encoding.UTF8.GetByteCount(entry.LinkName) >= PathMax)
                {
                    throw new ImageArchiveException(
                        $"Entry '{entry.Name}' in layer {layer} is a symbolic link whose target is empty, holds a NUL or is {PathMax} bytes or longer; the archive is malformed.");
                }

                Remove(full);
                File.CreateSymbolicLink(full, entry.LinkName);
                SetOwner(full, entry);
                break;

            case TarEntryType.HardLink:
                // Removed first: the link may replace a folder holding its own target, which must then count as missing.
                Remove(full);
                string target = Normalize(entry.LinkName, layer);
                if (target.Length == 0
                    || !EnsureParent(Path.GetDirectoryName(target) ?? "", target, layer, create: false)
                    || Interop.Libc.LStat(Path.Combine(root, target)) is not { IsDirectory: false })
                {
                    throw new ImageArchiveException(
                        $"Entry '{entry.Name}' in layer {layer} is a hard link to '{entry.LinkName}', which is not a file already in the image.");
                }

                Interop.Libc.Link(Path.Combine(root, target), full);
                break;

            case TarEntryType.CharacterDevice or TarEntryType.BlockDevice or TarEntryType.Fifo:
                progress?.Report(new ImageProgress(
                    "note", $"skipped {entry.EntryType} '{relative}' in layer {layer}: device nodes and fifos are not kept in images (the runtime provides /dev)"));
                return;

            default:
                throw new ImageArchiveException(
                    $"Entry '{entry.Name}' in layer {layer} has tar type {entry.EntryType}, which images cannot hold; expected files, directories, links or device nodes.");
        }

        written.Add(relative);
    }

    private void WriteFile(string full, TarEntry entry, string layer)
    {
        _bytes += entry.Length;
        if (_bytes > limits.MaxUnpackedBytes)
        {
            throw new ImageArchiveException($"The archive unpacks to more than {limits.MaxUnpackedBytes} bytes, the import limit.");
        }

        // CreateNew is O_EXCL: it never follows a symbolic link planted at this name.
        using var output = new FileStream(full, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        if (entry.DataStream is not { } data)
        {
            return;
        }

        try
        {
            data.CopyTo(output);
        }
        catch (Exception ex) when (ex is EndOfStreamException or InvalidDataException)
        {
            throw new ImageArchiveException($"Layer {layer} is truncated inside '{entry.Name}' ({ex.Message}).", ex);
        }

        if (output.Length != entry.Length)
        {
            throw new ImageArchiveException($"Layer {layer} is truncated inside '{entry.Name}': {output.Length} of {entry.Length} bytes present.");
        }
    }

    /// <summary>
    /// Turns a tar entry name into a path relative to the root, refusing names that leave it. "" is the root itself.
    /// </summary>
    internal static string Normalize(string name, string layer)
    {
        if (name.Contains('\0', StringComparison.Ordinal))
        {
            throw new ImageArchiveException($"An entry name in layer {layer} contains a NUL character; the archive is malformed.");
        }

        if (name.StartsWith('/'))
        {
            throw new ImageArchiveException(
                $"Entry '{name}' in layer {layer} has an absolute path; image archives must use paths relative to the root, so the archive is refused.");
        }

        var parts = new List<string>();
        foreach (string part in name.Split('/'))
        {
            if (part is "" or ".")
            {
                continue;
            }

            if (part == "..")
            {
                throw new ImageArchiveException(
                    $"Entry '{name}' in layer {layer} contains '..', which could escape the root file system, so the archive is refused.");
            }

            if (Encoding.UTF8.GetByteCount(part) > NameMax)
            {
                throw new ImageArchiveException($"Entry '{name}' in layer {layer} has a name component longer than {NameMax} bytes, more than Linux allows.");
            }

            parts.Add(part);
        }

        return string.Join('/', parts);
    }

    /// <summary>
    /// Checks (and with <paramref name="create"/>, makes) every directory above an entry without following symlinks:
    /// an entry whose path goes through a symbolic link is refused, since the link may point outside the root.
    /// </summary>
    private bool EnsureParent(string parent, string entryPath, string layer, bool create = true)
    {
        string current = "";
        foreach (string part in parent.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            current = Combine(current, part);
            string full = Path.Combine(root, current);
            switch (Interop.Libc.LStat(full))
            {
                case null when create:
                    Directory.CreateDirectory(full);
                    File.SetUnixFileMode(full, DefaultDirectoryMode);
                    break;
                case null:
                    return false;
                case { IsSymlink: true }:
                    throw new ImageArchiveException(
                        $"Entry '{entryPath}' in layer {layer} goes through the symbolic link '{current}', which could lead outside the root file system, so the archive is refused.");
                case { IsDirectory: false }:
                    throw new ImageArchiveException($"Entry '{entryPath}' in layer {layer} needs '{current}' to be a directory, but it is not one.");
            }
        }

        return true;
    }

    /// <summary>Linux's NAME_MAX and PATH_MAX: longer names fail in the kernel (ENAMETOOLONG), so they are refused first.</summary>
    private const int NameMax = 255;
    private const int PathMax = 4096;

    /// <summary>
    /// What .NET's TarReader throws for a corrupt header: besides the documented InvalidDataException, an overflowing
    /// base-256 number (OverflowException), a size it cannot skip in memory (ArgumentOutOfRangeException) and an entry
    /// type it cannot read, such as GNU sparse files (NotSupportedException).
    /// </summary>
    internal static bool IsTarDefect(Exception ex) =>
        ex is InvalidDataException or EndOfStreamException or FormatException or OverflowException or ArgumentOutOfRangeException
            or NotSupportedException;

    internal const UnixFileMode DefaultDirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private void RemoveNotWritten(string dir, HashSet<string> written)
    {
        string full = dir.Length == 0 ? root : Path.Combine(root, dir);
        if (Interop.Libc.LStat(full) is not { IsDirectory: true })
        {
            return;
        }

        foreach (string child in Directory.EnumerateFileSystemEntries(full).ToList())
        {
            string relative = Combine(dir, Path.GetFileName(child));
            if (!written.Contains(relative))
            {
                Remove(child);
            }
            else if (Interop.Libc.LStat(child) is { IsDirectory: true })
            {
                RemoveNotWritten(relative, written);
            }
        }
    }

    private static void Remove(string full)
    {
        switch (Interop.Libc.LStat(full))
        {
            case null:
                return;
            case { IsDirectory: true }:
                // Directory.Delete removes symbolic links inside the tree without following them.
                Directory.Delete(full, recursive: true);
                return;
            default:
                File.Delete(full);
                return;
        }
    }

    private void SetOwner(string full, TarEntry entry)
    {
        if (_keepOwners)
        {
            Interop.Libc.Lchown(full, entry.Uid, entry.Gid);
        }
        else if (!_warnedOwners && (entry.Uid != 0 || entry.Gid != 0))
        {
            _warnedOwners = true;
            progress?.Report(new ImageProgress("note", "not running as root: file owners from the archive are not kept"));
        }
    }

    private static string Combine(string parent, string name) => parent.Length == 0 ? name : parent + "/" + name;
}
