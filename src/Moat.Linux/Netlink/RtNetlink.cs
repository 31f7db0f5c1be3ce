using System.Buffers.Binary;
using System.Net;
using System.Runtime.Versioning;
using Moat.Linux.Namespaces;

namespace Moat.Linux.Netlink;

/// <summary>
/// A NETLINK_ROUTE socket bound to one network namespace for its whole life: links, addresses and routes
/// changed in-process, one ACK per request, many requests per system call.
/// </summary>
/// <remarks>Calls are serialised on the socket; use one instance per thread for parallel work.</remarks>
[SupportedOSPlatform("linux")]
public sealed partial class RtNetlink : IDisposable
{
    private const int ReceiveBufferSize = 64 * 1024;

    // The kernel answers rtnetlink requests synchronously; a silence this long means something is broken.
    private static readonly TimeSpan ReceiveTimeout = TimeSpan.FromSeconds(10);

    private readonly SafeFileDescriptor _socket;
    private readonly byte[] _receiveBuffer = new byte[ReceiveBufferSize];
    private readonly Lock _lock = new();
    private uint _nextSequence = 1;

    private RtNetlink(SafeFileDescriptor socket) => _socket = socket;

    /// <summary>Opens a socket in the calling thread's network namespace.</summary>
    public static RtNetlink Open()
    {
        var fd = new SafeFileDescriptor(Interop.Check(
            Interop.Socket(Interop.AF_NETLINK, Interop.SOCK_RAW | Interop.SOCK_CLOEXEC, Interop.NETLINK_ROUTE), "socket(AF_NETLINK, NETLINK_ROUTE)"));
        try
        {
            EnableOption(fd, Interop.NETLINK_CAP_ACK);
            EnableOption(fd, Interop.NETLINK_EXT_ACK);
            SetReceiveTimeout(fd, ReceiveTimeout);
            return new RtNetlink(fd);
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    /// <summary>Opens a socket created inside <paramref name="ns"/>; it acts on that namespace for as long as it lives.</summary>
    public static RtNetlink OpenIn(NetworkNamespace ns) => NamespaceRunner.Run(ns, Open);

    /// <summary>Sends all requests of <paramref name="batch"/> in one datagram and waits for every ACK.</summary>
    /// <exception cref="NetlinkException">The first request the kernel refused (the others were still run).</exception>
    public void Execute(NetlinkBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var errors = Send(batch);
        for (var i = 0; i < errors.Length; i++)
        {
            if (errors[i].Errno != 0)
            {
                throw new NetlinkException(errors[i].Errno, batch.Requests[i].Description, errors[i].Message);
            }
        }
    }

    public void Dispose() => _socket.Dispose();

    /// <summary>
    /// Opens the network namespace this socket acts on (SIOCGSKNS), whichever thread opened it: settings that have
    /// no rtnetlink form (IPv6 per-interface sysctls) are written there.
    /// </summary>
    internal unsafe NetworkNamespace OpenNamespace() =>
        NetworkNamespace.FromDescriptor(
            new SafeFileDescriptor(Interop.Check(Interop.Ioctl(_socket, Interop.SIOCGSKNS, null), "ioctl(SIOCGSKNS) on a NETLINK_ROUTE socket")),
            "the namespace of a NETLINK_ROUTE socket");

    /// <summary>Runs the batch and returns, per request, the errno (0 for success) and the kernel's extended-ACK text.</summary>
    internal (int Errno, string? Message)[] Send(NetlinkBatch batch)
    {
        var results = new (int Errno, string? Message)[batch.Count];
        if (batch.Count == 0)
        {
            return results;
        }

        lock (_lock)
        {
            var first = _nextSequence;
            _nextSequence += (uint)batch.Count;
            batch.Stamp(first);
            SendDatagram(batch.Writer.WrittenSpan);
            var pending = batch.Count;
            while (pending > 0)
            {
                var datagram = Receive();
                foreach (var message in new NetlinkMessageEnumerator(datagram))
                {
                    var slot = message.Sequence - first;
                    if (message.Type != Rtnl.NLMSG_ERROR || slot >= (uint)batch.Count)
                    {
                        continue;
                    }

                    results[slot] = ParseError(message);
                    pending--;
                }
            }
        }

        return results;
    }

    /// <summary>Runs one request built by <paramref name="build"/> and returns its errno (0 for success).</summary>
    private (int Errno, string? Message) SendOne(Action<NetlinkBatch> build, out string description)
    {
        var batch = new NetlinkBatch();
        build(batch);
        description = batch.Requests[0].Description;
        return Send(batch)[0];
    }

    private void ExecuteOne(Action<NetlinkBatch> build)
    {
        var (errno, message) = SendOne(build, out var description);
        if (errno != 0)
        {
            throw new NetlinkException(errno, description, message);
        }
    }

    internal static (int Errno, string? Message) ParseError(NetlinkMessage message)
    {
        var payload = message.Payload;
        var errno = -BinaryPrimitives.ReadInt32LittleEndian(payload);
        if (errno == 0 || (message.Flags & Rtnl.NLM_F_ACK_TLVS) == 0)
        {
            return (errno, null);
        }

        // The request's header is echoed after the errno: alone when capped, with its payload otherwise.
        var echoedLength = (message.Flags & Rtnl.NLM_F_CAPPED) != 0
            ? NetlinkWriter.HeaderLength
            : NetlinkWriter.Align((int)BinaryPrimitives.ReadUInt32LittleEndian(payload[4..]));
        var tlvStart = 4 + echoedLength;
        if (tlvStart > payload.Length)
        {
            return (errno, null);
        }

        foreach (var attribute in new NetlinkAttributeEnumerator(payload[tlvStart..]))
        {
            if (attribute.Type == Rtnl.NLMSGERR_ATTR_MSG)
            {
                return (errno, attribute.AsString());
            }
        }

        return (errno, null);
    }

    private unsafe void SendDatagram(ReadOnlySpan<byte> datagram)
    {
        fixed (byte* p = datagram)
        {
            while (true)
            {
                var sent = Interop.Send(_socket, p, (nuint)datagram.Length, 0);
                if (sent >= 0)
                {
                    return;
                }

                var errno = Interop.LastErrno;
                if (errno != Interop.EINTR)
                {
                    throw new LinuxException(errno, "send on netlink socket");
                }
            }
        }
    }

    private unsafe ReadOnlySpan<byte> Receive()
    {
        fixed (byte* p = _receiveBuffer)
        {
            while (true)
            {
                var received = Interop.Recv(_socket, p, (nuint)_receiveBuffer.Length, 0);
                if (received >= 0)
                {
                    return _receiveBuffer.AsSpan(0, (int)received);
                }

                var errno = Interop.LastErrno;
                if (errno == Interop.EAGAIN)
                {
                    throw new LinuxException(errno, $"recv on netlink socket (no answer from the kernel within {ReceiveTimeout.TotalSeconds} s)");
                }

                if (errno != Interop.EINTR)
                {
                    throw new LinuxException(errno, "recv on netlink socket");
                }
            }
        }
    }

    private static unsafe void SetReceiveTimeout(SafeFileDescriptor fd, TimeSpan timeout)
    {
        // struct timeval { long tv_sec; long tv_usec; } on 64-bit Linux.
        var timeval = stackalloc long[2];
        timeval[0] = (long)timeout.TotalSeconds;
        timeval[1] = 0;
        Interop.Check(Interop.SetSockOpt(fd, Interop.SOL_SOCKET, Interop.SO_RCVTIMEO, timeval, 2 * sizeof(long)), "setsockopt(SO_RCVTIMEO)");
    }

    private static unsafe void EnableOption(SafeFileDescriptor fd, int option)
    {
        var one = 1;
        Interop.Check(Interop.SetSockOpt(fd, Interop.SOL_NETLINK, option, &one, sizeof(int)), $"setsockopt(SOL_NETLINK, {option})");
    }
}
