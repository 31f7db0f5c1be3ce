using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Moat.Images;

/// <summary>Native calls, in one place.</summary>
[SupportedOSPlatform("linux")]
internal static partial class Interop
{
    /// <summary>libc calls the BCL does not offer: owner-aware stat and unmounting (layer writes go through Moat.Linux's RootedDirectory).</summary>
    internal static partial class Libc
    {
        private const int AtFdCwd = -100;
        private const int AtSymlinkNoFollow = 0x100;
        private const uint StatxBasicStats = 0x7ff;
        private const int MntDetach = 2;

        [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static unsafe partial int StatxNative(int dirfd, string path, int flags, uint mask, byte* buffer);

        [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        private static partial int Umount2Native(string target, int flags);

        [LibraryImport("libc", EntryPoint = "geteuid")]
        internal static partial uint GetEffectiveUserId();

        /// <summary>Stats <paramref name="path"/> without following a final symlink; null when it does not exist.</summary>
        internal static unsafe FileStat? LStat(string path)
        {
            // struct statx has an architecture-independent layout (256 bytes), unlike struct stat.
            byte* buffer = stackalloc byte[256];
            if (StatxNative(AtFdCwd, path, AtSymlinkNoFollow, StatxBasicStats, buffer) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno is 2 or 20)
                {
                    return null; // ENOENT, ENOTDIR
                }

                throw new IOException($"statx({path}) failed: {Marshal.GetPInvokeErrorMessage(errno)}");
            }

            uint nlink = *(uint*)(buffer + 16);
            uint uid = *(uint*)(buffer + 20);
            uint gid = *(uint*)(buffer + 24);
            ushort mode = *(ushort*)(buffer + 28);
            ulong ino = *(ulong*)(buffer + 32);
            ulong size = *(ulong*)(buffer + 40);
            uint rdevMajor = *(uint*)(buffer + 128);
            uint rdevMinor = *(uint*)(buffer + 132);
            uint devMajor = *(uint*)(buffer + 136);
            uint devMinor = *(uint*)(buffer + 140);
            return new FileStat(mode, uid, gid, (long)size, nlink, ino, rdevMajor, rdevMinor, ((ulong)devMajor << 32) | devMinor);
        }

        /// <summary>Detaches the mount at <paramref name="target"/>; false when nothing was mounted there.</summary>
        internal static bool DetachMount(string target)
        {
            if (Umount2Native(target, MntDetach) == 0)
            {
                return true;
            }

            int errno = Marshal.GetLastPInvokeError();
            if (errno is 22 or 2)
            {
                return false; // EINVAL: not a mount point; ENOENT: gone
            }

            throw new IOException($"umount2({target}) failed: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
    }
}

/// <summary>The parts of struct statx Moat reads.</summary>
internal readonly record struct FileStat(
    ushort Mode, uint Uid, uint Gid, long Size, uint LinkCount, ulong Inode, uint RdevMajor, uint RdevMinor, ulong Device)
{
    private const int TypeMask = 0xF000;

    internal bool IsDirectory => (Mode & TypeMask) == 0x4000;

    internal bool IsRegularFile => (Mode & TypeMask) == 0x8000;

    internal bool IsSymlink => (Mode & TypeMask) == 0xA000;

    internal bool IsCharDevice => (Mode & TypeMask) == 0x2000;

    internal bool IsBlockDevice => (Mode & TypeMask) == 0x6000;

    internal bool IsFifo => (Mode & TypeMask) == 0x1000;

    internal int Permissions => Mode & 0xFFF;
}
