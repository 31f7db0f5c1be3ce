using System.Globalization;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Moat.Linux.Files;

/// <summary>What a name inside a <see cref="RootedReader"/> is, read without following it.</summary>
public enum RootedFileKind
{
    Other,
    Regular,
    Directory,
    Symlink,
    CharacterDevice,
    BlockDevice,
    Fifo,
    Socket,
}

/// <summary>One entry's statx, as much of it as an archive or an inventory needs.</summary>
public sealed record RootedFileStatus(
    RootedFileKind Kind, long Size, UnixFileMode Mode, uint Uid, uint Gid, DateTimeOffset Modified, uint DeviceMajor, uint DeviceMinor);

/// <summary>How a path below a <see cref="RootedReader"/> may be resolved.</summary>
public enum RootedResolve
{
    /// <summary>
    /// As the tree's own processes would see it, with the directory as "/": absolute symlinks and ".." stay inside
    /// it (RESOLVE_IN_ROOT). For reading an image's files by the paths its programs use.
    /// </summary>
    InRoot,

    /// <summary>No symlink at all, in any component (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS). For walking a tree entry by entry.</summary>
    NoSymlinks,
}

/// <summary>
/// A directory of a tree the host does not trust (an image, a sandbox's upper layer), opened once. Every path below
/// it is resolved by the kernel against that descriptor (openat2), never by the host's path walk, so an absolute
/// symlink, a "..", a magic link or a component swapped for a symlink while the host reads cannot lead outside it;
/// files are opened only when they are regular files, so a FIFO or a device node is never opened.
/// </summary>
public sealed class RootedReader : IDisposable
{
    private readonly SafeFileDescriptor _fd;

    private RootedReader(SafeFileDescriptor fd, string description)
    {
        _fd = fd;
        Description = description;
    }

    /// <summary>What the directory is, for messages: the host path it was opened by, then the names below it.</summary>
    public string Description { get; }

    /// <summary>Opens the top of a tree by its host path (which the host chose, so it is resolved normally).</summary>
    public static RootedReader Open(string path)
    {
        var fd = new SafeFileDescriptor(Interop.Check(Interop.Open(path, Interop.O_PATH | Interop.O_CLOEXEC, 0), $"open {path}"));
        var directory = new RootedReader(fd, path);
        if (directory.StatSelf().Kind != RootedFileKind.Directory)
        {
            directory.Dispose();
            throw new LinuxException(Errno.ENOTDIR, $"open {path}", "not a directory");
        }

        return directory;
    }

    /// <summary>Opens a directory below this one; null when the name is missing, a symlink or not a directory.</summary>
    public RootedReader? TryOpenDirectory(string path, RootedResolve resolve = RootedResolve.NoSymlinks)
    {
        var fd = TryOpenPath(path, resolve);
        if (fd is null)
        {
            return null;
        }

        var child = new RootedReader(fd, Description.TrimEnd('/') + "/" + path.TrimStart('/'));
        if (child.StatSelf().Kind == RootedFileKind.Directory)
        {
            return child;
        }

        child.Dispose();
        return null;
    }

    /// <summary>The names in this directory (not "." or ".."), in ordinal order.</summary>
    public IReadOnlyList<string> List()
    {
        // Listing /proc/self/fd/N opens the very directory the descriptor holds, whatever its path has become since.
        var names = Directory.EnumerateFileSystemEntries(ProcPath).Select(entry => Path.GetFileName(entry)).ToList();
        names.Sort(StringComparer.Ordinal);
        return names;
    }

    /// <summary>A name's status, not following it; null when it is missing.</summary>
    public RootedFileStatus? Stat(string name)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(name.Contains('/', StringComparison.Ordinal), false, nameof(name));
        int errno = StatxFields.Read(_fd, name, Interop.AT_SYMLINK_NOFOLLOW, out var st);
        return errno == 0 ? ToStatus(st)
            : errno is Errno.ENOENT or Errno.ENOTDIR ? null
            : throw new LinuxException(errno, $"statx {Description}/{name}");
    }

    /// <summary>What a path below this directory resolves to (following symlinks only as <paramref name="resolve"/> allows); null when it is missing.</summary>
    public RootedFileStatus? TryStatPath(string path, RootedResolve resolve)
    {
        using var fd = TryOpenPath(path, resolve);
        return fd is null ? null : StatOf(fd);
    }

    /// <summary>Where a symlink below this directory points (not followed); null when the name is no longer a symlink.</summary>
    public string? ReadLink(string name) =>
        name.Contains('/', StringComparison.Ordinal) ? throw new ArgumentException("one name, not a path", nameof(name))
        : new FileInfo($"{ProcPath}/{name}").LinkTarget;

    /// <summary>Opens a regular file below this directory for reading; null when it is missing or is anything but a regular file.</summary>
    public SafeFileHandle? TryOpenRegular(string path, RootedResolve resolve)
    {
        using var fd = TryOpenPath(path, resolve);
        if (fd is null || StatOf(fd).Kind != RootedFileKind.Regular)
        {
            return null;
        }

        // Reopening the O_PATH descriptor through /proc opens the inode it holds, not whatever the path names now.
        return File.OpenHandle($"/proc/self/fd/{fd.Number.ToString(CultureInfo.InvariantCulture)}", FileMode.Open, FileAccess.Read);
    }

    /// <summary>
    /// Reads a regular file below this directory as UTF-8; null when it is missing or not a regular file. A file larger
    /// than <paramref name="maxBytes"/> is refused with a <see cref="LinuxException"/> (EFBIG) naming it and the limit.
    /// </summary>
    public string? TryReadText(string path, long maxBytes, RootedResolve resolve = RootedResolve.InRoot)
    {
        using var file = TryOpenRegular(path, resolve);
        if (file is null)
        {
            return null;
        }

        var tooLarge = new LinuxException(Errno.EFBIG, $"read {Description.TrimEnd('/')}/{path.TrimStart('/')}", $"larger than the {maxBytes} bytes allowed");
        if (RandomAccess.GetLength(file) > maxBytes)
        {
            throw tooLarge;
        }

        // The length can change under us; never read past the limit whatever the file does meanwhile.
        var bytes = new byte[maxBytes + 1 > int.MaxValue ? int.MaxValue : (int)Math.Min(maxBytes + 1, RandomAccess.GetLength(file) + 4096)];
        int total = 0;
        while (total < bytes.Length)
        {
            int read = RandomAccess.Read(file, bytes.AsSpan(total), total);
            if (read == 0)
            {
                break;
            }

            total += read;
        }

        return total > maxBytes ? throw tooLarge : Encoding.UTF8.GetString(bytes, 0, total);
    }

    public void Dispose() => _fd.Dispose();

    private string ProcPath => $"/proc/self/fd/{_fd.Number.ToString(CultureInfo.InvariantCulture)}";

    private SafeFileDescriptor? TryOpenPath(string path, RootedResolve resolve)
    {
        string relative = resolve == RootedResolve.InRoot ? path.TrimStart('/') : path;
        if (relative.Length == 0)
        {
            relative = ".";
        }

        int fd = Interop.OpenAt2(_fd, relative, Interop.O_PATH | Interop.O_CLOEXEC, resolve == RootedResolve.InRoot ? Interop.ResolveInRoot : Interop.ResolveBeneathNoSymlinks);
        if (fd >= 0)
        {
            return new SafeFileDescriptor(fd);
        }

        int errno = Interop.LastErrno;
        // ENOENT/ENOTDIR: not there. ELOOP: a symlink where none may be. EXDEV: it would leave the tree (a mount, "..").
        return errno is Errno.ENOENT or Errno.ENOTDIR or Errno.ELOOP or Errno.EXDEV ? null : throw new LinuxException(errno, $"openat2 {Description}/{path}");
    }

    private RootedFileStatus StatSelf() => StatOf(_fd);

    private RootedFileStatus StatOf(SafeFileDescriptor fd)
    {
        int errno = StatxFields.Read(fd, "", Interop.AT_EMPTY_PATH | Interop.AT_SYMLINK_NOFOLLOW, out var st);
        return errno == 0 ? ToStatus(st) : throw new LinuxException(errno, $"statx {Description}");
    }

    private static RootedFileStatus ToStatus(StatxFields st)
    {
        var kind = st.Type switch
        {
            0x8000 => RootedFileKind.Regular,
            0x4000 => RootedFileKind.Directory,
            0xA000 => RootedFileKind.Symlink,
            0x2000 => RootedFileKind.CharacterDevice,
            0x6000 => RootedFileKind.BlockDevice,
            0x1000 => RootedFileKind.Fifo,
            0xC000 => RootedFileKind.Socket,
            _ => RootedFileKind.Other,
        };
        var modified = DateTimeOffset.FromUnixTimeSeconds(st.ModifiedSeconds).AddTicks(st.ModifiedNanoseconds / 100);
        return new RootedFileStatus(kind, st.Size, (UnixFileMode)(st.Mode & 0xFFF), st.Uid, st.Gid, modified, st.DeviceMajor, st.DeviceMinor);
    }
}
