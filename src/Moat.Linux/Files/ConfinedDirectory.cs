using System.Runtime.Versioning;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Moat.Linux.Files;

/// <summary>What a name in a directory is, seen without following it.</summary>
public enum EntryKind
{
    Missing,
    Directory,
    File,
    SymbolicLink,
    CharacterDevice,
    Other,
}

/// <summary>
/// An open directory that hostile content is written into: every call takes one name (never a path) relative to this
/// descriptor, creates it exclusively and never follows a symbolic link, so nothing written through it can land
/// outside the tree it was opened on, whatever links the tree already holds.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class ConfinedDirectory : IDisposable
{
    private const int OpenFlags = Interop.O_RDONLY | Interop.O_CLOEXEC | Interop.DirectoryAt.O_DIRECTORY | Interop.DirectoryAt.O_NOFOLLOW;

    private readonly SafeFileHandle _fd;

    private ConfinedDirectory(SafeFileHandle fd, string path)
    {
        _fd = fd;
        Path = path;
    }

    /// <summary>Where the directory was when it was opened, for messages only (it is never resolved again).</summary>
    public string Path { get; }

    /// <summary>Opens <paramref name="path"/>, which must be a directory and not a symbolic link.</summary>
    public static ConfinedDirectory Open(string path) =>
        new(Interop.DirectoryAt.Handle(Interop.Open(path, OpenFlags, 0), $"open directory {path}"), path);

    /// <summary>Opens the child directory <paramref name="name"/>; a symbolic link or anything but a directory there
    /// fails with ELOOP or ENOTDIR.</summary>
    public ConfinedDirectory OpenDirectory(string name) =>
        new(Interop.DirectoryAt.Handle(Interop.DirectoryAt.OpenAt(_fd, Name(name), OpenFlags, 0), $"open directory {Child(name)}"), Child(name));

    /// <summary>What <paramref name="name"/> is, without following it.</summary>
    public unsafe EntryKind KindOf(string name)
    {
        Interop.DirectoryAt.Statx st;
        if (Interop.DirectoryAt.StatxCall(_fd, Name(name), Interop.DirectoryAt.AT_SYMLINK_NOFOLLOW, 0x1 /* STATX_TYPE */, &st) < 0)
        {
            var errno = Interop.LastErrno;
            return errno == Interop.DirectoryAt.ENOENT ? EntryKind.Missing : throw new LinuxException(errno, $"statx {Child(name)}");
        }

        return (st.Mode & Interop.DirectoryAt.S_IFMT) switch
        {
            Interop.DirectoryAt.S_IFDIR => EntryKind.Directory,
            Interop.DirectoryAt.S_IFREG => EntryKind.File,
            Interop.DirectoryAt.S_IFLNK => EntryKind.SymbolicLink,
            Interop.DirectoryAt.S_IFCHR => EntryKind.CharacterDevice,
            _ => EntryKind.Other,
        };
    }

    /// <summary>Makes the child directory <paramref name="name"/> (mode 0700 until <see cref="SetMode"/>); fails with
    /// EEXIST when the name is taken.</summary>
    public void CreateDirectory(string name) =>
        Interop.Check(Interop.DirectoryAt.MkDirAt(_fd, Name(name), 0x1C0), $"mkdir {Child(name)}");

    /// <summary>Creates the regular file <paramref name="name"/> (mode 0600) for writing; fails with EEXIST when the name
    /// is taken, so an existing file or link is never written through.</summary>
    public SafeFileHandle CreateFile(string name) =>
        Interop.DirectoryAt.Handle(
            Interop.DirectoryAt.OpenAt(_fd, Name(name), Interop.DirectoryAt.O_WRONLY | Interop.O_CREAT | Interop.O_EXCL | Interop.DirectoryAt.O_NOFOLLOW | Interop.O_CLOEXEC, 0x180),
            $"create {Child(name)}");

    /// <summary>Creates the symbolic link <paramref name="name"/> holding <paramref name="target"/>, which is stored as
    /// given and never resolved here.</summary>
    public void CreateSymbolicLink(string name, string target) =>
        Interop.Check(Interop.DirectoryAt.SymlinkAt(target, _fd, Name(name)), $"symlink {Child(name)}");

    /// <summary>Makes <paramref name="name"/> another name of <paramref name="existing"/> in <paramref name="from"/>; a
    /// symbolic link there is linked itself, not followed.</summary>
    public void CreateHardLink(string name, ConfinedDirectory from, string existing)
    {
        ArgumentNullException.ThrowIfNull(from);
        Interop.Check(Interop.DirectoryAt.LinkAt(from._fd, Name(existing), _fd, Name(name), 0), $"link {Child(name)} to {from.Child(existing)}");
    }

    /// <summary>Makes <paramref name="name"/> an overlayfs whiteout (a character device with number 0/0, which opens no
    /// device).</summary>
    public void CreateWhiteout(string name) =>
        Interop.Check(Interop.DirectoryAt.MkNodAt(_fd, Name(name), Interop.DirectoryAt.S_IFCHR, 0), $"mknod {Child(name)}");

    /// <summary>Sets the owner of <paramref name="name"/> itself (a symbolic link is not followed).</summary>
    public void SetOwner(string name, int uid, int gid) =>
        Interop.Check(Interop.DirectoryAt.FChownAt(_fd, Name(name), uid, gid, Interop.DirectoryAt.AT_SYMLINK_NOFOLLOW), $"chown {Child(name)}");

    /// <summary>Sets the modification (and access) time of <paramref name="name"/> itself.</summary>
    public unsafe void SetTime(string name, DateTimeOffset modified)
    {
        var times = stackalloc Interop.DirectoryAt.TimeSpec[2];
        times[0] = times[1] = ToTimeSpec(modified);
        Interop.Check(Interop.DirectoryAt.UtimensAt(_fd, Name(name), times, Interop.DirectoryAt.AT_SYMLINK_NOFOLLOW), $"utimensat {Child(name)}");
    }

    /// <summary>Sets this directory's own owner.</summary>
    public void SetOwner(int uid, int gid) => SetOwner(_fd, uid, gid, Path);

    /// <summary>Sets this directory's own permission bits (chown first: it clears set-id bits).</summary>
    public void SetMode(int mode) => SetMode(_fd, mode, Path);

    /// <summary>Sets this directory's own times.</summary>
    public void SetTime(DateTimeOffset modified) => SetTime(_fd, modified, Path);

    /// <summary>Sets an extended attribute on this directory itself.</summary>
    public void SetAttribute(string name, ReadOnlySpan<byte> value) => SetAttribute(_fd, name, value, Path);

    /// <summary>Sets the owner of an open file.</summary>
    public static void SetOwner(SafeFileHandle file, int uid, int gid, string what) =>
        Interop.Check(Interop.DirectoryAt.FChown(file, uid, gid), $"chown {what}");

    /// <summary>Sets the permission bits of an open file.</summary>
    public static void SetMode(SafeFileHandle file, int mode, string what) =>
        Interop.Check(Interop.DirectoryAt.FChmod(file, (uint)mode), $"chmod {what}");

    /// <summary>Sets the modification (and access) time of an open file.</summary>
    public static unsafe void SetTime(SafeFileHandle file, DateTimeOffset modified, string what)
    {
        var times = stackalloc Interop.DirectoryAt.TimeSpec[2];
        times[0] = times[1] = ToTimeSpec(modified);
        Interop.Check(Interop.DirectoryAt.FUtimens(file, times), $"futimens {what}");
    }

    /// <summary>Sets an extended attribute on an open file.</summary>
    public static unsafe void SetAttribute(SafeFileHandle file, string name, ReadOnlySpan<byte> value, string what)
    {
        fixed (byte* p = value)
        {
            Interop.Check(Interop.DirectoryAt.FSetXattr(file, name, p, (nuint)value.Length, 0), $"setxattr {name} on {what}");
        }
    }

    public void Dispose() => _fd.Dispose();

    private string Child(string name) => Path + "/" + name;

    /// <summary>One path component: no slash, not "." or "..", no NUL.</summary>
    private static string Name(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name is "." or ".." || name.Contains('/', StringComparison.Ordinal) || name.Contains('\0', StringComparison.Ordinal) || Encoding.UTF8.GetByteCount(name) > 255)
        {
            throw new ArgumentException($"'{name}' is not a single file name.", nameof(name));
        }

        return name;
    }

    private static Interop.DirectoryAt.TimeSpec ToTimeSpec(DateTimeOffset t)
    {
        var seconds = Math.DivRem(t.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks, TimeSpan.TicksPerSecond, out var rest);
        if (rest < 0)
        {
            seconds--;
            rest += TimeSpan.TicksPerSecond;
        }

        return new Interop.DirectoryAt.TimeSpec { Seconds = seconds, Nanoseconds = rest * 100 };
    }
}
