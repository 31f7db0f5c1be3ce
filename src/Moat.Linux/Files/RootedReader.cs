using System.Buffers.Binary;
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
    private const ulong InRootFlags = Interop.RESOLVE_IN_ROOT | Interop.RESOLVE_NO_MAGICLINKS | Interop.RESOLVE_NO_XDEV;
    private const ulong NoSymlinkFlags = Interop.RESOLVE_BENEATH | Interop.RESOLVE_NO_SYMLINKS | Interop.RESOLVE_NO_MAGICLINKS | Interop.RESOLVE_NO_XDEV;
    private const int EXDEV = 18;
    private const int ENOTDIR = 20;
    private const int EFBIG = 27;
    private const int ELOOP = 40;

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
            throw new LinuxException(ENOTDIR, $"open {path}", "not a directory");
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
    public unsafe RootedFileStatus? Stat(string name)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(name.Contains('/', StringComparison.Ordinal), false, nameof(name));
        Span<byte> buffer = stackalloc byte[Interop.StatxSize];
        fixed (byte* p = buffer)
        {
            if (Interop.StatxAt(_fd, name, Interop.AT_SYMLINK_NOFOLLOW, Interop.STATX_BASIC_STATS, p) != 0)
            {
                int errno = Interop.LastErrno;
                return errno is Errno.ENOENT or ENOTDIR ? null : throw new LinuxException(errno, $"statx {Description}/{name}");
            }
        }

        return Parse(buffer);
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

        var tooLarge = new LinuxException(EFBIG, $"read {Description.TrimEnd('/')}/{path.TrimStart('/')}", $"larger than the {maxBytes} bytes allowed");
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

        int fd = Interop.OpenAt2(_fd, relative, Interop.O_PATH | Interop.O_CLOEXEC, resolve == RootedResolve.InRoot ? InRootFlags : NoSymlinkFlags);
        if (fd >= 0)
        {
            return new SafeFileDescriptor(fd);
        }

        int errno = Interop.LastErrno;
        // ENOENT/ENOTDIR: not there. ELOOP: a symlink where none may be. EXDEV: it would leave the tree (a mount, "..").
        return errno is Errno.ENOENT or ENOTDIR or ELOOP or EXDEV ? null : throw new LinuxException(errno, $"openat2 {Description}/{path}");
    }

    private RootedFileStatus StatSelf() => StatOf(_fd);

    private unsafe RootedFileStatus StatOf(SafeFileDescriptor fd)
    {
        Span<byte> buffer = stackalloc byte[Interop.StatxSize];
        fixed (byte* p = buffer)
        {
            Interop.Check(Interop.StatxAt(fd, "", Interop.AT_EMPTY_PATH | Interop.AT_SYMLINK_NOFOLLOW, Interop.STATX_BASIC_STATS, p), $"statx {Description}");
        }

        return Parse(buffer);
    }

    /// <summary>struct statx (linux/stat.h): the same layout on every architecture.</summary>
    private static RootedFileStatus Parse(ReadOnlySpan<byte> statx)
    {
        uint uid = BinaryPrimitives.ReadUInt32LittleEndian(statx[20..]);
        uint gid = BinaryPrimitives.ReadUInt32LittleEndian(statx[24..]);
        int mode = BinaryPrimitives.ReadUInt16LittleEndian(statx[28..]);
        long size = BinaryPrimitives.ReadInt64LittleEndian(statx[40..]);
        long mtimeSeconds = BinaryPrimitives.ReadInt64LittleEndian(statx[112..]);
        uint mtimeNanoseconds = BinaryPrimitives.ReadUInt32LittleEndian(statx[120..]);
        uint rdevMajor = BinaryPrimitives.ReadUInt32LittleEndian(statx[128..]);
        uint rdevMinor = BinaryPrimitives.ReadUInt32LittleEndian(statx[132..]);
        var kind = (mode & 0xF000) switch
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
        var modified = DateTimeOffset.FromUnixTimeSeconds(mtimeSeconds).AddTicks(mtimeNanoseconds / 100);
        return new RootedFileStatus(kind, size, (UnixFileMode)(mode & 0xFFF), uid, gid, modified, rdevMajor, rdevMinor);
    }
}
