using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Microsoft.Win32.SafeHandles;
using static Moat.Monitor.Interop.Interop;

namespace Moat.Monitor.Sources;

/// <summary>
/// A fanotify group in notification mode reporting FAN_OPEN_EXEC on the file systems of watched sandboxes.
/// Each event carries an open descriptor of the exact file being executed, so its content can be hashed even
/// if the path is deleted or replaced a moment later. A full queue (FAN_Q_OVERFLOW) is reported as a gap.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class FanotifyExecSource : IDisposable
{
    private const int MetadataLength = 24;
    private readonly SafeFileHandle _group;
    private readonly byte[] _buffer = new byte[64 * 1024];

    private FanotifyExecSource(SafeFileHandle group) => _group = group;

    /// <summary>Reads events from any descriptor in fanotify's format (tests feed crafted events through a pipe).</summary>
    internal static FanotifyExecSource FromHandle(SafeFileHandle handle) => new(handle);

    public SafeFileHandle Handle => _group;

    public static FanotifyExecSource Open()
    {
        int fd = FanotifyInit(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY | O_LARGEFILE | O_CLOEXEC);
        if (fd < 0)
        {
            throw new MonitorKernelException("fanotify_init", Marshal.GetLastPInvokeError());
        }

        return new FanotifyExecSource(OwnHandle(fd));
    }

    /// <summary>
    /// Watches every exec from the file system that holds <paramref name="path"/> (a sandbox's own overlay
    /// mount is its own file system, so the mark covers that sandbox and nothing else).
    /// </summary>
    public void WatchFileSystem(string path) => Mark(FAN_MARK_ADD | FAN_MARK_FILESYSTEM, path);

    public void UnwatchFileSystem(string path) => Mark(FAN_MARK_REMOVE | FAN_MARK_FILESYSTEM, path);

    private void Mark(uint flags, string path)
    {
        if (FanotifyMark(_group, flags, FAN_OPEN_EXEC, AT_FDCWD, path) != 0)
        {
            throw new MonitorKernelException($"fanotify_mark({path})", Marshal.GetLastPInvokeError());
        }
    }

    /// <summary>Reads all queued events; <paramref name="onExec"/> owns the descriptor it is given.</summary>
    public unsafe void Drain(Action<int, SafeFileHandle> onExec, Action<string> onGap)
    {
        while (true)
        {
            nint read;
            fixed (byte* p = _buffer)
            {
                read = Read(_group, p, _buffer.Length);
            }

            if (read < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno == EAGAIN)
                {
                    return;
                }

                if (errno == EINTR)
                {
                    continue;
                }

                if (errno is EMFILE or ENFILE)
                {
                    // The kernel could not open the executed file for us (this process or the system is out of file
                    // descriptors) and the event is gone: a gap, not the end of the monitor.
                    onGap($"fanotify could not hand over an executed file: {(errno == EMFILE ? "this process" : "the system")} has no file descriptor left; that exec's file was not captured");
                    return;
                }

                throw new MonitorKernelException("read(fanotify)", errno);
            }

            if (read == 0)
            {
                return;
            }

            var span = _buffer.AsSpan(0, (int)read);
            while (span.Length >= MetadataLength)
            {
                int eventLength = (int)BinaryPrimitives.ReadUInt32LittleEndian(span);
                if (eventLength < MetadataLength || eventLength > span.Length)
                {
                    throw new MonitorException($"fanotify returned a malformed event of length {eventLength}.");
                }

                ulong mask = BinaryPrimitives.ReadUInt64LittleEndian(span[8..]);
                int fd = BinaryPrimitives.ReadInt32LittleEndian(span[16..]);
                int pid = BinaryPrimitives.ReadInt32LittleEndian(span[20..]);
                if ((mask & FAN_Q_OVERFLOW) != 0)
                {
                    onGap("fanotify queue overflowed (FAN_Q_OVERFLOW): some executed files were not captured");
                }

                if (fd >= 0)
                {
                    var file = OwnHandle(fd);
                    if ((mask & FAN_OPEN_EXEC) != 0)
                    {
                        onExec(pid, file);
                    }
                    else
                    {
                        file.Dispose();
                    }
                }

                span = span[eventLength..];
            }
        }
    }

    public void Dispose() => _group.Dispose();
}
