using System.Runtime.InteropServices;
using System.Text;

namespace Moat.Honeyfarm.Interop;

/// <summary>
/// A layer-3 TUN interface (no packet-info header): every IPv4 packet the kernel routes to it is read here, and
/// every packet written is received by the kernel as if it had arrived on it. Created in the network namespace of
/// the calling thread; run <see cref="Create"/> through <c>NamespaceRunner</c> to place it elsewhere.
/// </summary>
internal sealed class TunDevice : IDisposable
{
    private readonly SafeFd _fd;

    private TunDevice(SafeFd fd, string name)
    {
        _fd = fd;
        Name = name;
    }

    public string Name { get; }

    public static unsafe TunDevice Create(string name)
    {
        var nameBytes = Encoding.ASCII.GetBytes(name);
        if (nameBytes.Length is 0 or > 15)
        {
            throw new ArgumentException($"TUN name '{name}' must be 1 to 15 ASCII characters.", nameof(name));
        }

        var fd = Libc.Open("/dev/net/tun", Libc.O_RDWR | Libc.O_NONBLOCK | Libc.O_CLOEXEC);
        if (fd < 0)
        {
            throw new HoneyfarmSystemException(Marshal.GetLastPInvokeError(), "open /dev/net/tun");
        }

        var handle = new SafeFd(fd);
        // struct ifreq: 16 bytes of name, then the flags (short) in the union.
        var ifreq = stackalloc byte[40];
        new Span<byte>(ifreq, 40).Clear();
        nameBytes.CopyTo(new Span<byte>(ifreq, 16));
        *(short*)(ifreq + 16) = Libc.IFF_TUN | Libc.IFF_NO_PI;
        if (Libc.Ioctl(fd, Libc.TUNSETIFF, ifreq) < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            handle.Dispose();
            throw new HoneyfarmSystemException(errno, $"TUNSETIFF {name}");
        }

        return new TunDevice(handle, name);
    }

    /// <summary>Waits up to <paramref name="timeoutMilliseconds"/> for a packet; returns its length, or 0 when none came.</summary>
    public unsafe int Read(Span<byte> buffer, int timeoutMilliseconds)
    {
        var fd = _fd.Fd;
        while (true)
        {
            fixed (byte* p = buffer)
            {
                var n = Libc.Read(fd, p, buffer.Length);
                if (n >= 0)
                {
                    return (int)n;
                }
            }

            var errno = Marshal.GetLastPInvokeError();
            if (errno == Libc.EINTR)
            {
                continue;
            }

            if (errno != Libc.EAGAIN)
            {
                throw new HoneyfarmSystemException(errno, $"read {Name}");
            }

            var poll = new Libc.PollFd { Fd = fd, Events = Libc.POLLIN };
            var ready = Libc.Poll(&poll, 1, timeoutMilliseconds);
            if (ready == 0)
            {
                return 0;
            }

            if (ready < 0 && Marshal.GetLastPInvokeError() is var e && e != Libc.EINTR)
            {
                throw new HoneyfarmSystemException(e, $"poll {Name}");
            }
        }
    }

    /// <summary>Hands one packet to the kernel as received on this interface; false when the queue is full (the packet is dropped, as a router would).</summary>
    public unsafe bool Write(ReadOnlySpan<byte> packet)
    {
        fixed (byte* p = packet)
        {
            var n = Libc.Write(_fd.Fd, p, packet.Length);
            if (n >= 0)
            {
                return true;
            }
        }

        var errno = Marshal.GetLastPInvokeError();
        return errno == Libc.EAGAIN ? false : throw new HoneyfarmSystemException(errno, $"write {Name}");
    }

    public void Dispose() => _fd.Dispose();
}
