using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Moat.Linux.Mounts;

/// <summary>
/// Mounts a file system image (a regular file) through a loop device, as mount(8) -o loop would but by system call:
/// a free device from /dev/loop-control, bound to the file with LOOP_CONFIGURE and autoclear, so that the device is
/// released by the kernel when the file system is unmounted and no descriptor of it remains.
/// </summary>
[SupportedOSPlatform("linux")]
public static class LoopMount
{
    // struct loop_config: fd (u32), block_size (u32), struct loop_info64 (232 bytes), __reserved[8] (u64).
    private const int LoopConfigSize = 8 + 232 + 64;

    // loop_info64.lo_flags: after lo_device, lo_inode, lo_rdevice, lo_offset, lo_sizelimit (u64) and lo_number,
    // lo_encrypt_type, lo_encrypt_key_size (u32).
    private const int LoFlagsOffset = 8 + (5 * 8) + (3 * 4);

    /// <summary>
    /// Mounts the <paramref name="fileSystemType"/> image <paramref name="image"/> at <paramref name="target"/>, always
    /// nosuid and nodev: what is on it was written by a sandbox.
    /// </summary>
    public static unsafe void Mount(string image, string target, string fileSystemType = "ext4")
    {
        ArgumentException.ThrowIfNullOrEmpty(image);
        ArgumentException.ThrowIfNullOrEmpty(target);
        using var backing = new SafeFileDescriptor(Interop.Check(Interop.Open(image, Interop.O_RDWR | Interop.O_CLOEXEC, 0), $"open {image}"));
        using var control = new SafeFileDescriptor(Interop.Check(Interop.Open("/dev/loop-control", Interop.O_RDWR | Interop.O_CLOEXEC, 0), "open /dev/loop-control"));

        // Another process may take the free device between the two calls (EBUSY): ask again, a bounded number of times.
        for (var attempt = 0; ; attempt++)
        {
            var number = Interop.Check(Interop.Ioctl(control, Interop.LOOP_CTL_GET_FREE, null), "LOOP_CTL_GET_FREE");
            var device = $"/dev/loop{number}";
            using var loop = new SafeFileDescriptor(Interop.Check(Interop.Open(device, Interop.O_RDWR | Interop.O_CLOEXEC, 0), $"open {device}"));
            var config = stackalloc byte[LoopConfigSize];
            new Span<byte>(config, LoopConfigSize).Clear();
            *(uint*)config = (uint)backing.Number;
            *(uint*)(config + LoFlagsOffset) = Interop.LO_FLAGS_AUTOCLEAR;
            if (Interop.Ioctl(loop, Interop.LOOP_CONFIGURE, config) < 0)
            {
                var errno = Interop.LastErrno;
                if (errno == Interop.EBUSY && attempt < 8)
                {
                    continue;
                }

                throw new LinuxException(errno, $"LOOP_CONFIGURE {device} with {image}");
            }

            // The mount holds the device from here; closing our descriptor lets autoclear free it at unmount (or now,
            // if the mount fails).
            Interop.Check(Interop.Mount(device, target, fileSystemType, Interop.MS_NOSUID | Interop.MS_NODEV, null), $"mount {image} ({device}) at {target}");
            return;
        }
    }
}
