using System.Formats.Tar;
using System.Text;
using Moat.Images.Store;
using Moat.Linux.Files;

namespace Moat.Images.Import;

/// <summary>
/// Applies image layers (tar streams) to a root file system in order, with OCI whiteouts. Every path is confined to the
/// root: absolute paths, ".." and paths through a symbolic link are refused, and every write, delete, chmod, chown,
/// utime, link and mkdir goes through <see cref="RootedDirectory"/>, which re-resolves the path beneath the root without
/// following any symbolic link at the moment of use. So the end-of-layer steps (opaque directories, directory modes)
/// stay inside the root even when a later entry of the same layer turned a directory on their path into a symlink.
/// </summary>
internal sealed class LayerApplier(RootedDirectory root, ImportLimits limits, IProgress<ImageProgress>? progress)
{
    private const string WhiteoutPrefix = ".wh.";
    private const string OpaqueMarker = ".wh..wh..opq";
    private const UnixFileMode NewFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly bool _keepOwners = Interop.Libc.GetEffectiveUserId() == 0;
    private long _bytes;
    private long _entries;
    private bool _warnedOwners;

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

    /// <summary>
    /// Counts bytes a layer stream yields after decompression (tar headers, PAX records and skipped data included), so a
    /// decompression bomb stops at <see cref="ImportLimits.MaxUnpackedBytes"/> whatever the bytes are spent on.
    /// </summary>
    internal void CountUnpacked(long bytes)
    {
        _bytes += bytes;
        if (_bytes > limits.MaxUnpackedBytes)
        {
            throw TooLarge();
        }
    }

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

            try
            {
                ApplyEntry(entry, layer, written, opaque, directoryModes);
            }
            catch (PathThroughSymlinkException ex)
            {
                // EnsureParent names the link first; this is the backstop the kernel enforces at the moment of use.
                throw new ImageArchiveException(
                    $"Entry '{entry.Name}' in layer {layer} goes through a symbolic link, which could lead outside the root file system, so the archive is refused.", ex);
            }
        }

        // Both end-of-layer steps re-resolve their paths now: a directory replaced later in this layer (by a symlink,
        // say) is no longer there, so there is nothing left to empty or chmod, and nothing outside is reached.
        foreach (string dir in opaque)
        {
            RemoveNotWritten(dir, written);
        }

        // Modes of directories last and deepest first, so a read-only directory does not block its own children.
        foreach (var (path, mode) in directoryModes.OrderByDescending(d => d.Path.Length))
        {
            if (StatBeneath(path) is { IsDirectory: true })
            {
                root.SetMode(path, mode);
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
                directoryModes.Add(("", entry.Mode));
            }

            return;
        }

        int slash = relative.LastIndexOf('/');
        string name = relative[(slash + 1)..];
        string parent = slash < 0 ? "" : relative[..slash];
        if (name.StartsWith(WhiteoutPrefix, StringComparison.Ordinal))
        {
            ApplyWhiteout(entry, layer, name, parent, relative, written, opaque);
            return;
        }

        EnsureParent(parent, relative, layer);
        switch (entry.EntryType)
        {
            case TarEntryType.Directory:
                if (root.Stat(relative) is not { IsDirectory: true })
                {
                    root.Delete(relative);
                    root.CreateDirectory(relative, DefaultDirectoryMode);
                }

                SetOwner(relative, entry);
                directoryModes.Add((relative, entry.Mode));
                break;

            case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                root.Delete(relative);
                WriteFile(relative, entry, layer);
                SetOwner(relative, entry);
                root.SetMode(relative, entry.Mode);
                root.SetModificationTime(relative, entry.ModificationTime);
                break;

            case TarEntryType.SymbolicLink:
                if (entry.LinkName.Length == 0 || entry.LinkName.Contains('\0', StringComparison.Ordinal) || Encoding.UTF8.GetByteCount(entry.LinkName) >= RootedDirectory.MaxPathBytes)
                {
                    throw new ImageArchiveException(
                        $"Entry '{entry.Name}' in layer {layer} is a symbolic link whose target is empty, holds a NUL or is {RootedDirectory.MaxPathBytes} bytes or longer; the archive is malformed.");
                }

                root.Delete(relative);
                root.CreateSymbolicLink(relative, entry.LinkName);
                SetOwner(relative, entry);
                break;

            case TarEntryType.HardLink:
                // Removed first: the link may replace a folder holding its own target, which must then count as missing.
                root.Delete(relative);
                string target = Normalize(entry.LinkName, layer);
                if (target.Length == 0
                    || target == relative
                    || !EnsureParent(target[..Math.Max(0, target.LastIndexOf('/'))], target, layer, create: false)
                    || root.Stat(target) is not { IsDirectory: false })
                {
                    throw new ImageArchiveException(
                        $"Entry '{entry.Name}' in layer {layer} is a hard link to '{entry.LinkName}', which is not a file already in the image.");
                }

                root.CreateHardLink(target, relative);
                break;

            case TarEntryType.CharacterDevice or TarEntryType.BlockDevice or TarEntryType.Fifo:
                // Not created at all, rather than created and trusted to a nodev mount: a reference image is also copied,
                // exported and bind-mounted, and every one of those places would have to remember nodev.
                progress?.Report(new ImageProgress(
                    "note", $"skipped {entry.EntryType} '{relative}' in layer {layer}: device nodes and fifos are not kept in images (the runtime provides /dev)"));
                return;

            default:
                throw new ImageArchiveException(
                    $"Entry '{entry.Name}' in layer {layer} has tar type {entry.EntryType}, which images cannot hold; expected files, directories, links or device nodes.");
        }

        written.Add(relative);
    }

    private void ApplyWhiteout(TarEntry entry, string layer, string name, string parent, string relative, HashSet<string> written, List<string> opaque)
    {
        string hidden = name[WhiteoutPrefix.Length..];
        if (name != OpaqueMarker && (hidden is "" or "." or ".."))
        {
            throw new ImageArchiveException(
                $"Entry '{entry.Name}' in layer {layer} is a whiteout that names no file ('{hidden}'); a whiteout is '.wh.' followed by the name of a file to hide, so the archive is refused.");
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

        string path = Combine(parent, hidden);
        if (!name.StartsWith(WhiteoutPrefix + WhiteoutPrefix, StringComparison.Ordinal) && !written.Contains(path))
        {
            root.Delete(path);
        }
    }

    private void WriteFile(string relative, TarEntry entry, string layer)
    {
        if (_bytes + entry.Length > limits.MaxUnpackedBytes)
        {
            throw TooLarge();
        }

        // O_CREAT|O_EXCL|O_NOFOLLOW in a parent resolved beneath the root: never a planted link, never an existing inode.
        using var output = new FileStream(root.CreateFile(relative, NewFileMode), FileAccess.Write);
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

    private ImageArchiveException TooLarge() =>
        new($"The archive unpacks to more than {limits.MaxUnpackedBytes} bytes, the import limit; raise ImportLimits.MaxUnpackedBytes to import it.");

    /// <summary>
    /// Turns a tar entry name into a path relative to the root, refusing names that leave it or that the kernel could not
    /// hold (a part over NAME_MAX, the whole over PATH_MAX). "" is the root itself.
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

            if (Encoding.UTF8.GetByteCount(part) > RootedDirectory.MaxNameBytes)
            {
                throw new ImageArchiveException(
                    $"Entry '{Shorten(name)}' in layer {layer} has a name part of {Encoding.UTF8.GetByteCount(part)} bytes; Linux allows at most {RootedDirectory.MaxNameBytes}.");
            }

            parts.Add(part);
        }

        string relative = string.Join('/', parts);
        if (Encoding.UTF8.GetByteCount(relative) >= RootedDirectory.MaxPathBytes)
        {
            throw new ImageArchiveException(
                $"Entry '{Shorten(name)}' in layer {layer} has a path of {Encoding.UTF8.GetByteCount(relative)} bytes; Linux allows paths shorter than {RootedDirectory.MaxPathBytes}.");
        }

        return relative;
    }

    private static string Shorten(string name) => name.Length <= 80 ? name : name[..80] + "…";

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
            switch (root.Stat(current))
            {
                case null when create:
                    root.CreateDirectory(current, DefaultDirectoryMode);
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

    /// <summary>What is at <paramref name="relative"/> now; null also when its path has since come to go through a symlink.</summary>
    private TreeEntryStat? StatBeneath(string relative)
    {
        try
        {
            return root.Stat(relative);
        }
        catch (PathThroughSymlinkException)
        {
            return null;
        }
    }

    private void RemoveNotWritten(string dir, HashSet<string> written)
    {
        if (StatBeneath(dir) is not { IsDirectory: true })
        {
            return;
        }

        foreach (string child in root.List(dir))
        {
            string relative = Combine(dir, child);
            if (!written.Contains(relative))
            {
                root.Delete(relative);
            }
            else if (root.Stat(relative) is { IsDirectory: true })
            {
                RemoveNotWritten(relative, written);
            }
        }
    }

    private void SetOwner(string relative, TarEntry entry)
    {
        if (_keepOwners)
        {
            root.SetOwner(relative, entry.Uid, entry.Gid);
        }
        else if (!_warnedOwners && (entry.Uid != 0 || entry.Gid != 0))
        {
            _warnedOwners = true;
            progress?.Report(new ImageProgress("note", "not running as root: file owners from the archive are not kept"));
        }
    }

    private static string Combine(string parent, string name) => parent.Length == 0 ? name : parent + "/" + name;
}
