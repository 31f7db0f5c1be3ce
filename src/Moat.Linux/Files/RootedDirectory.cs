using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Moat.Linux.Files;

/// <summary>
/// A directory that untrusted content is written into (an image's root file system), held open by descriptor. Every
/// operation names a path relative to it and resolves that path's parent with openat2(RESOLVE_BENEATH |
/// RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV) at the moment of use, then acts on the last component with the *at() call and
/// without following it. So no write, delete, chmod, chown, utime, link or mkdir can reach outside the tree, whatever
/// symbolic links the tree holds or gains later, and a path through a symbolic link fails with
/// <see cref="PathThroughSymlinkException"/> instead of being followed.
/// </summary>
public sealed class RootedDirectory : IDisposable
{
    /// <summary>Longest path the kernel accepts (PATH_MAX, including the terminating NUL).</summary>
    public const int MaxPathBytes = 4096;

    /// <summary>Longest single name the kernel accepts (NAME_MAX).</summary>
    public const int MaxNameBytes = 255;

    private const ulong Confined = Interop.ResolveBeneathNoSymlinks;

    private readonly SafeFileDescriptor _root;

    private RootedDirectory(SafeFileDescriptor root, string path)
    {
        _root = root;
        Path = path;
    }

    /// <summary>The directory's path when it was opened (for messages; operations use the descriptor).</summary>
    public string Path { get; }

    /// <summary>Opens the existing directory <paramref name="path"/>; a symbolic link at <paramref name="path"/> itself is refused.</summary>
    public static RootedDirectory Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        int fd = Interop.Open(path, Interop.O_PATH | Interop.O_DIRECTORY | Interop.O_NOFOLLOW | Interop.O_CLOEXEC, 0);
        return new RootedDirectory(new SafeFileDescriptor(Interop.Check(fd, $"open {path}")), path);
    }

    /// <summary>What is at <paramref name="relative"/> without following it; null when nothing is (or a parent is missing or not a directory).</summary>
    public TreeEntryStat? Stat(string relative)
    {
        StatxFields st;
        int errno;
        if (relative.Length == 0)
        {
            errno = StatxFields.Read(_root, ".", Interop.AT_SYMLINK_NOFOLLOW, out st);
        }
        else
        {
            using SafeFileDescriptor? parent = TryOpenParent(relative, out string name);
            if (parent is null)
            {
                return null;
            }

            errno = StatxFields.Read(parent, name, Interop.AT_SYMLINK_NOFOLLOW, out st);
        }

        if (errno != 0)
        {
            return errno is Errno.ENOENT or Errno.ENOTDIR ? null : throw new LinuxException(errno, $"statx {Describe(relative)}");
        }

        return new TreeEntryStat(st.Mode, st.Uid, st.Gid, st.Size, st.Inode, st.LinkCount);
    }

    /// <summary>Makes the directory <paramref name="relative"/> (its parent must exist).</summary>
    public void CreateDirectory(string relative, UnixFileMode mode)
    {
        using SafeFileDescriptor parent = OpenParent(relative, out string name);
        Interop.Check(Interop.MkDirAt(parent, name, (uint)mode), $"mkdir {Describe(relative)}");
    }

    /// <summary>Creates the new regular file <paramref name="relative"/> (O_EXCL, O_NOFOLLOW) and returns it open for writing.</summary>
    public SafeFileHandle CreateFile(string relative, UnixFileMode mode)
    {
        using SafeFileDescriptor parent = OpenParent(relative, out string name);
        int fd = Interop.OpenAt(
            parent, name, Interop.O_WRONLY | Interop.O_CREAT | Interop.O_EXCL | Interop.O_NOFOLLOW | Interop.O_CLOEXEC, (uint)mode);
        return new SafeFileHandle(Interop.Check(fd, $"create {Describe(relative)}"), ownsHandle: true);
    }

    /// <summary>Creates the symbolic link <paramref name="relative"/> holding <paramref name="target"/> (never resolved here).</summary>
    public void CreateSymbolicLink(string relative, string target)
    {
        using SafeFileDescriptor parent = OpenParent(relative, out string name);
        Interop.Check(Interop.SymlinkAt(target, parent, name), $"symlink {Describe(relative)}");
    }

    /// <summary>Hard-links <paramref name="relative"/> to the existing <paramref name="existing"/>; a symbolic link is linked itself, not followed.</summary>
    public void CreateHardLink(string existing, string relative) => CreateHardLink(this, existing, relative);

    /// <summary>Hard-links <paramref name="relative"/> to <paramref name="existing"/> below <paramref name="from"/> (a directory of the same tree, e.g. one from <see cref="OpenDirectory"/>).</summary>
    public void CreateHardLink(RootedDirectory from, string existing, string relative)
    {
        ArgumentNullException.ThrowIfNull(from);
        using SafeFileDescriptor oldParent = from.OpenParent(existing, out string oldName);
        using SafeFileDescriptor newParent = OpenParent(relative, out string newName);
        Interop.Check(Interop.LinkAt(oldParent, oldName, newParent, newName, 0), $"link {Describe(relative)} to {from.Describe(existing)}");
    }

    /// <summary>Makes <paramref name="relative"/> an overlayfs whiteout: a character device numbered 0/0, which opens no device.</summary>
    public void CreateWhiteout(string relative)
    {
        using SafeFileDescriptor parent = OpenParent(relative, out string name);
        Interop.Check(Interop.MkNodAt(parent, name, Interop.S_IFCHR, 0), $"mknod {Describe(relative)}");
    }

    /// <summary>
    /// Opens the directory <paramref name="relative"/> as a tree of its own, resolved like every other path here: a
    /// symbolic link on the way fails with <see cref="PathThroughSymlinkException"/>, anything but a directory with ENOTDIR.
    /// </summary>
    public RootedDirectory OpenDirectory(string relative)
    {
        int fd = Interop.OpenAt2(_root, Check(relative), Interop.O_PATH | Interop.O_DIRECTORY | Interop.O_CLOEXEC, Confined);
        return fd >= 0 ? new RootedDirectory(new SafeFileDescriptor(fd), Describe(relative)) : throw Failure(Interop.LastErrno, "open", relative);
    }

    /// <summary>Removes whatever is at <paramref name="relative"/>, a directory with everything in it; nothing is followed. False when nothing was there.</summary>
    public bool Delete(string relative)
    {
        using SafeFileDescriptor? parent = TryOpenParent(relative, out string name);
        return parent is not null && DeleteAt(parent, name, relative);
    }

    /// <summary>The names in the directory <paramref name="relative"/>, without "." and "..".</summary>
    public IReadOnlyList<string> List(string relative)
    {
        using SafeFileDescriptor dir = OpenListable(relative);
        return ReadNames(dir, relative);
    }

    /// <summary>Sets the permission bits of <paramref name="relative"/>; a symbolic link (which has none) is left alone.</summary>
    public void SetMode(string relative, UnixFileMode mode)
    {
        using SafeFileDescriptor parent = OpenParentOrRoot(relative, out string name);
        if (Interop.FchmodAt2(parent, name, (uint)mode, Interop.AT_SYMLINK_NOFOLLOW) < 0 && Interop.LastErrno is var errno && errno != Errno.EOPNOTSUPP)
        {
            throw new LinuxException(errno, $"chmod {Describe(relative)}");
        }
    }

    /// <summary>Sets the owner of <paramref name="relative"/> itself (a symbolic link's own owner).</summary>
    public void SetOwner(string relative, int uid, int gid)
    {
        using SafeFileDescriptor parent = OpenParentOrRoot(relative, out string name);
        Interop.Check(Interop.FchownAt(parent, name, (uint)uid, (uint)gid, Interop.AT_SYMLINK_NOFOLLOW), $"chown {Describe(relative)}");
    }

    /// <summary>
    /// Sets the modification time of <paramref name="relative"/> itself, and its access time to <paramref name="accessed"/>
    /// (left as it is when null).
    /// </summary>
    public unsafe void SetModificationTime(string relative, DateTimeOffset time, DateTimeOffset? accessed = null)
    {
        using SafeFileDescriptor parent = OpenParentOrRoot(relative, out string name);
        Interop.TimeSpec* times = stackalloc Interop.TimeSpec[2];
        times[0] = accessed is { } a ? ToTimeSpec(a) : new Interop.TimeSpec { Nanoseconds = Interop.UTIME_OMIT };
        times[1] = ToTimeSpec(time);
        Interop.Check(Interop.UtimensAt(parent, name, times, Interop.AT_SYMLINK_NOFOLLOW), $"utimensat {Describe(relative)}");
    }

    /// <summary>Sets the extended attribute <paramref name="name"/> on the directory <paramref name="relative"/> ("" for this one).</summary>
    public unsafe void SetDirectoryAttribute(string relative, string name, ReadOnlySpan<byte> value)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        using SafeFileDescriptor dir = OpenListable(relative);
        fixed (byte* p = value)
        {
            Interop.Check(Interop.FSetXattr(dir, name, p, (nuint)value.Length, 0), $"setxattr {name} on {Describe(relative)}");
        }
    }

    public void Dispose() => _root.Dispose();

    private bool DeleteAt(SafeFileDescriptor parent, string name, string relative)
    {
        int fd = Interop.OpenAt(parent, name, Interop.O_RDONLY | Interop.O_DIRECTORY | Interop.O_NOFOLLOW | Interop.O_CLOEXEC, 0);
        if (fd >= 0)
        {
            using (var dir = new SafeFileDescriptor(fd))
            {
                foreach (string child in ReadNames(dir, relative))
                {
                    DeleteAt(dir, child, relative + "/" + child);
                }
            }

            Interop.Check(Interop.UnlinkAt(parent, name, Interop.AT_REMOVEDIR), $"rmdir {Describe(relative)}");
            return true;
        }

        // ENOTDIR or ELOOP: not a directory (a symbolic link is removed, never followed).
        int errno = Interop.LastErrno;
        if (errno == Errno.ENOENT)
        {
            return false;
        }

        if (errno is not (Errno.ENOTDIR or Errno.ELOOP))
        {
            throw new LinuxException(errno, $"open {Describe(relative)}");
        }

        if (Interop.UnlinkAt(parent, name, 0) < 0)
        {
            return Interop.LastErrno == Errno.ENOENT ? false : throw new LinuxException(Interop.LastErrno, $"unlink {Describe(relative)}");
        }

        return true;
    }

    private static unsafe List<string> ReadNames(SafeFileDescriptor dir, string relative)
    {
        var names = new List<string>();
        const int Size = 32 * 1024;
        byte* buffer = stackalloc byte[Size];
        while (true)
        {
            nint read = Interop.GetDents64(dir, buffer, Size);
            if (read < 0)
            {
                throw new LinuxException(Interop.LastErrno, $"getdents64 {relative}");
            }

            if (read == 0)
            {
                return names;
            }

            // struct linux_dirent64: u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, char d_name[].
            for (nint offset = 0; offset < read;)
            {
                byte* record = buffer + offset;
                ushort length = *(ushort*)(record + 16);
                string name = Marshal.PtrToStringUTF8((nint)(record + 19)) ?? "";
                if (name is not ("." or ".."))
                {
                    names.Add(name);
                }

                offset += length;
            }
        }
    }

    private static Interop.TimeSpec ToTimeSpec(DateTimeOffset time)
    {
        long seconds = Math.DivRem(time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks, TimeSpan.TicksPerSecond, out long rest);
        return rest < 0
            ? new Interop.TimeSpec { Seconds = seconds - 1, Nanoseconds = (rest + TimeSpan.TicksPerSecond) * 100 }
            : new Interop.TimeSpec { Seconds = seconds, Nanoseconds = rest * 100 };
    }

    /// <summary>The directory <paramref name="relative"/> opened for reading (getdents64, fsetxattr), not as a path only.</summary>
    private SafeFileDescriptor OpenListable(string relative)
    {
        string path = relative.Length == 0 ? "." : Check(relative);
        int fd = Interop.OpenAt2(_root, path, Interop.O_RDONLY | Interop.O_DIRECTORY | Interop.O_CLOEXEC, Confined);
        return fd >= 0 ? new SafeFileDescriptor(fd) : throw Failure(Interop.LastErrno, "open", relative);
    }

    private SafeFileDescriptor OpenParentOrRoot(string relative, out string name)
    {
        if (relative.Length == 0)
        {
            name = ".";
            int fd = Interop.OpenAt2(_root, ".", Interop.O_PATH | Interop.O_DIRECTORY | Interop.O_CLOEXEC, Confined);
            return new SafeFileDescriptor(Interop.Check(fd, $"open {Path}"));
        }

        return OpenParent(relative, out name);
    }

    private SafeFileDescriptor OpenParent(string relative, out string name) =>
        TryOpenParent(relative, out name) ?? throw new LinuxException(Errno.ENOENT, $"open the parent of {Describe(relative)}");

    /// <summary>The parent of <paramref name="relative"/>, resolved beneath the root without symlinks; null when it does not exist.</summary>
    private SafeFileDescriptor? TryOpenParent(string relative, out string name)
    {
        Check(relative);
        int slash = relative.LastIndexOf('/');
        name = relative[(slash + 1)..];
        string parent = slash < 0 ? "." : relative[..slash];
        int fd = Interop.OpenAt2(_root, parent, Interop.O_PATH | Interop.O_DIRECTORY | Interop.O_CLOEXEC, Confined);
        if (fd >= 0)
        {
            return new SafeFileDescriptor(fd);
        }

        int errno = Interop.LastErrno;
        return errno is Errno.ENOENT or Errno.ENOTDIR ? null : throw Failure(errno, "open the parent of", relative);
    }

    private Exception Failure(int errno, string operation, string relative) => errno switch
    {
        Errno.ELOOP or Errno.EXDEV => new PathThroughSymlinkException(relative, Path),
        _ => new LinuxException(errno, $"{operation} {Describe(relative)}"),
    };

    /// <summary>Refuses what the kernel would resolve differently than a plain relative path: absolute, "..", ".", empty parts, NUL, over-long.</summary>
    private static string Check(string relative)
    {
        if (relative.Length == 0 || relative[0] == '/' || relative.Contains('\0', StringComparison.Ordinal)
            || Encoding.UTF8.GetByteCount(relative) >= MaxPathBytes)
        {
            throw new ArgumentException($"'{relative}' is not a relative path of at most {MaxPathBytes - 1} bytes.", nameof(relative));
        }

        foreach (string part in relative.Split('/'))
        {
            if (part is "" or "." or ".." || Encoding.UTF8.GetByteCount(part) > MaxNameBytes)
            {
                throw new ArgumentException($"'{relative}' has an empty, '.', '..' or over-long ({MaxNameBytes}+ byte) part.", nameof(relative));
            }
        }

        return relative;
    }

    private string Describe(string relative) => relative.Length == 0 ? Path : $"{Path}/{relative}";
}

/// <summary>What <see cref="RootedDirectory.Stat"/> reports about one entry.</summary>
public readonly record struct TreeEntryStat(ushort Mode, uint Uid, uint Gid, long Size, ulong Inode, uint LinkCount)
{
    private const int TypeMask = 0xF000;

    /// <summary>S_IFLNK, the file-type bits of a symbolic link.</summary>
    public const int SymlinkType = 0xA000;

    public bool IsDirectory => (Mode & TypeMask) == 0x4000;

    public bool IsRegularFile => (Mode & TypeMask) == 0x8000;

    public bool IsSymlink => (Mode & TypeMask) == 0xA000;
}

/// <summary>A path inside a <see cref="RootedDirectory"/> that would have to go through a symbolic link (or leave the tree's file system).</summary>
public sealed class PathThroughSymlinkException(string relative, string root)
    : LinuxException(Linux.Errno.ELOOP, $"resolve {relative} beneath {root}", "a component is a symbolic link or a mount point")
{
    /// <summary>The path, relative to the tree, that was refused.</summary>
    public string RelativePath { get; } = relative;
}
