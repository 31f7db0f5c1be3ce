using System.Globalization;
using System.Text;

namespace Moat.Linux.Mounts;

/// <summary>One line of /proc/self/mountinfo.</summary>
/// <param name="Id">The mount id.</param>
/// <param name="ParentId">The parent mount's id.</param>
/// <param name="Root">The path inside the file system that is mounted (not "/" for bind mounts of a folder).</param>
/// <param name="MountPoint">Where it is mounted, unescaped.</param>
/// <param name="Options">Per-mount options, e.g. "rw,relatime".</param>
/// <param name="OptionalFields">Propagation tags, e.g. "shared:1" or "master:3"; empty when private.</param>
/// <param name="FileSystemType">e.g. "overlay", "tmpfs", "nsfs".</param>
/// <param name="Source">The mount source, e.g. "overlay" or "/dev/vda".</param>
/// <param name="SuperOptions">Per-superblock options, e.g. "rw,lowerdir=...,upperdir=...".</param>
public sealed record MountEntry(
    int Id,
    int ParentId,
    string Root,
    string MountPoint,
    string Options,
    IReadOnlyList<string> OptionalFields,
    string FileSystemType,
    string Source,
    string SuperOptions);

/// <summary>Mounts and unmounts (overlay, bind) by system call, and reads the mount table for reconciliation.</summary>
public static class MountTable
{
    private const string MountInfoPath = "/proc/thread-self/mountinfo";

    /// <summary>Mounts an overlay of <paramref name="lower"/> (read-only) under <paramref name="upper"/> (writes) at <paramref name="target"/>.</summary>
    public static void MountOverlay(string lower, string upper, string work, string target) =>
        MountOverlay([lower], upper, work, target);

    /// <summary>
    /// Mounts an overlay of the <paramref name="lowers"/> (first = topmost) at <paramref name="target"/>; writable
    /// through <paramref name="upper"/> and <paramref name="work"/> (same file system), or read-only when both are null.
    /// Always nosuid and nodev.
    /// </summary>
    public static void MountOverlay(IReadOnlyList<string> lowers, string? upper, string? work, string target)
    {
        ArgumentNullException.ThrowIfNull(lowers);
        if (lowers.Count == 0)
        {
            throw new ArgumentException("An overlay needs at least one lower directory.", nameof(lowers));
        }

        if ((upper is null) != (work is null))
        {
            throw new ArgumentException("Give both the upper and the work directory (writable overlay) or neither (read-only overlay).", nameof(upper));
        }

        if (upper is null && lowers.Count < 2)
        {
            throw new ArgumentException("A read-only overlay (no upper directory) needs at least two lower directories.", nameof(lowers));
        }

        foreach (var path in lowers.Append(target).Concat(upper is null ? [] : [upper, work!]))
        {
            ValidateOverlayPath(path);
        }

        var data = new StringBuilder("lowerdir=").AppendJoin(':', lowers);
        if (upper is not null)
        {
            data.Append(",upperdir=").Append(upper).Append(",workdir=").Append(work);
        }

        // xino=on: one st_dev for every file of the overlay even when its layers sit on different file systems (a
        // sandbox's upper layer on its own disk, the image on the host's): the exec monitor tells sandboxes apart by
        // the device of the file a process ran, and without it every sandbox's image files would share the host's.
        data.Append(",xino=on");

        // nosuid,nodev: the upper layer holds whatever the sandbox's root wrote, setuid-root files and device nodes
        // included; on the host side of the mount they are plain files to whoever reaches them.
        Interop.Check(
            Interop.Mount("overlay", target, "overlay", Interop.MS_NOSUID | Interop.MS_NODEV | (upper is null ? Interop.MS_RDONLY : 0), data.ToString()),
            $"mount overlay at {target}");
    }

    /// <summary>Mounts a tmpfs of at most <paramref name="bytes"/> at <paramref name="target"/> (mode 0700, nosuid, nodev).</summary>
    public static void MountTmpfs(string target, long bytes)
    {
        ArgumentException.ThrowIfNullOrEmpty(target);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(bytes);
        Interop.Check(
            Interop.Mount("tmpfs", target, "tmpfs", Interop.MS_NOSUID | Interop.MS_NODEV, string.Create(System.Globalization.CultureInfo.InvariantCulture, $"size={bytes},mode=0700")),
            $"mount tmpfs at {target}");
    }

    /// <summary>Bind-mounts <paramref name="source"/> at <paramref name="target"/>, optionally read-only and with the mounts below it.</summary>
    public static void BindMount(string source, string target, bool readOnly = false, bool recursive = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(source);
        ArgumentException.ThrowIfNullOrEmpty(target);
        var flags = Interop.MS_BIND | (recursive ? Interop.MS_REC : 0);
        Interop.Check(Interop.Mount(source, target, null, flags, null), $"bind mount {source} at {target}");
        if (readOnly)
        {
            // A bind mount ignores MS_RDONLY on creation; it takes effect only as a remount.
            try
            {
                Interop.Check(Interop.Mount(null, target, null, Interop.MS_BIND | Interop.MS_REMOUNT | Interop.MS_RDONLY, null), $"remount {target} read-only");
            }
            catch
            {
                Interop.Umount2(target, Interop.MNT_DETACH);
                throw;
            }
        }
    }

    /// <summary>Unmounts <paramref name="target"/>; false when nothing is mounted there. <paramref name="detach"/> = MNT_DETACH (lazy).</summary>
    public static bool Unmount(string target, bool detach = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(target);
        if (Interop.Umount2(target, detach ? Interop.MNT_DETACH : 0) == 0)
        {
            return true;
        }

        var errno = Interop.LastErrno;
        return errno is Errno.EINVAL or Errno.ENOENT ? false : throw new LinuxException(errno, $"unmount {target}");
    }

    /// <summary>STATX_ATTR_MOUNT_ROOT (linux/stat.h, since 5.8): the path is the root of a mount.</summary>
    private const ulong StatxAttrMountRoot = 0x2000;

    private static long s_tableReads;

    /// <summary>How many times this process has read the whole mount table (<see cref="List"/>): a figure for tests and
    /// benchmarks that check a per-sandbox step does not read a table that grows with every sandbox.</summary>
    public static long TableReads => Interlocked.Read(ref s_tableReads);

    /// <summary>
    /// Whether something is mounted exactly at <paramref name="path"/> (a symbolic link there is not followed), as this
    /// thread sees it. One statx(2) of the path, whatever the number of mounts: the mount table is read only on a kernel
    /// that does not report STATX_ATTR_MOUNT_ROOT.
    /// </summary>
    public static unsafe bool IsMountPoint(string path)
    {
        var full = Normalise(path);
        byte* buffer = stackalloc byte[Interop.StatxSize];
        if (Interop.StatxAt(SafeFileDescriptor.CurrentDirectory, full, Interop.AT_SYMLINK_NOFOLLOW, Interop.STATX_BASIC_STATS, buffer) < 0)
        {
            var errno = Interop.LastErrno;
            return errno is Errno.ENOENT or Errno.ENOTDIR ? false : throw new LinuxException(errno, $"statx {full}");
        }

        // struct statx: stx_attributes at offset 8, stx_attributes_mask (which attributes the kernel reports) at 56.
        var statx = new ReadOnlySpan<byte>(buffer, Interop.StatxSize);
        if ((System.Runtime.InteropServices.MemoryMarshal.Read<ulong>(statx[56..]) & StatxAttrMountRoot) == 0)
        {
            return List(full).Any(m => m.MountPoint == full);
        }

        return (System.Runtime.InteropServices.MemoryMarshal.Read<ulong>(statx[8..]) & StatxAttrMountRoot) != 0;
    }

    /// <summary>The mounts at or below <paramref name="prefix"/> (all when null), in mount order, as this thread sees them.</summary>
    /// <remarks>Reads the whole table, which holds a few lines per sandbox: for reconciliation, never per sandbox.</remarks>
    public static IReadOnlyList<MountEntry> List(string? prefix = null)
    {
        Interlocked.Increment(ref s_tableReads);
        var entries = Parse(File.ReadAllText(MountInfoPath));
        if (prefix is null)
        {
            return entries;
        }

        var root = Normalise(prefix);
        return [.. entries.Where(m => m.MountPoint == root || m.MountPoint.StartsWith(root == "/" ? "/" : root + "/", StringComparison.Ordinal))];
    }

    /// <summary>Parses mountinfo text (proc(5)): "ID PARENT MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER".</summary>
    internal static IReadOnlyList<MountEntry> Parse(string mountInfo)
    {
        var entries = new List<MountEntry>();
        foreach (var line in mountInfo.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split(' ');
            var separator = Array.IndexOf(fields, "-", 6);
            if (fields.Length < 10 || separator < 0 || fields.Length < separator + 4)
            {
                throw new InvalidDataException($"mountinfo line is not in the proc(5) format: '{line}'.");
            }

            entries.Add(new MountEntry(
                int.Parse(fields[0], CultureInfo.InvariantCulture),
                int.Parse(fields[1], CultureInfo.InvariantCulture),
                Unescape(fields[3]),
                Unescape(fields[4]),
                fields[5],
                fields[6..separator],
                Unescape(fields[separator + 1]),
                Unescape(fields[separator + 2]),
                Unescape(fields[separator + 3])));
        }

        return entries;
    }

    /// <summary>Undoes the kernel's octal escapes of space, tab, newline and backslash (\040, \011, \012, \134).</summary>
    internal static string Unescape(string field)
    {
        if (!field.Contains('\\'))
        {
            return field;
        }

        var result = new StringBuilder(field.Length);
        for (var i = 0; i < field.Length; i++)
        {
            if (field[i] == '\\' && IsOctal(field, i + 1))
            {
                result.Append((char)Convert.ToInt32(field.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                result.Append(field[i]);
            }
        }

        return result.ToString();
    }

    private static bool IsOctal(string s, int start) =>
        start + 3 <= s.Length && s[start] is >= '0' and <= '3' && s[start + 1] is >= '0' and <= '7' && s[start + 2] is >= '0' and <= '7';

    private static string Normalise(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        return full.Length > 1 ? full.TrimEnd('/') : full;
    }

    private static void ValidateOverlayPath(string path)
    {
        if (string.IsNullOrEmpty(path) || !path.StartsWith('/') || path.AsSpan().IndexOfAny(",:\\\n") >= 0)
        {
            throw new ArgumentException($"Overlay path '{path}' is not valid: use an absolute path without ',', ':', '\\' or newlines (they separate overlay options).", nameof(path));
        }
    }
}
