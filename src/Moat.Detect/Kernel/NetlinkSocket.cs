using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Microsoft.Win32.SafeHandles;

namespace Moat.Detect.Kernel;

/// <summary>A NETLINK_NETFILTER socket, optionally created inside another network namespace, with blocking receive bounded by a timeout.</summary>
[SupportedOSPlatform("linux")]
internal sealed unsafe class NetlinkSocket : IDisposable
{
    internal const ushort NlmsgError = 2;
    internal const ushort NlmsgDone = 3;
    internal const ushort FlagRequest = 0x1;
    internal const ushort FlagAck = 0x4;

    private readonly SafeNetlinkHandle _handle;
    private uint _sequence;

    private NetlinkSocket(SafeNetlinkHandle handle)
    {
        _handle = handle;
    }

    /// <summary>Opens the socket; with a namespace path the socket belongs to that namespace (the thread returns to its own after).</summary>
    internal static NetlinkSocket Open(string? networkNamespacePath, uint groups, TimeSpan receiveTimeout)
    {
        int fd = networkNamespacePath is null ? CreateSocket() : CreateSocketIn(networkNamespacePath);
        var handle = new SafeNetlinkHandle(fd);
        try
        {
            var address = new Interop.SockAddrNetlink { Family = Interop.AfNetlink, Groups = groups };
            Check(Interop.Bind(handle, &address, sizeof(Interop.SockAddrNetlink)), "bind(AF_NETLINK)");
            var timeout = new Interop.TimeVal
            {
                Seconds = (long)receiveTimeout.TotalSeconds,
                Microseconds = receiveTimeout.Milliseconds * 1000L,
            };
            Check(Interop.SetSockOpt(handle, Interop.SolSocket, Interop.SoRcvtimeo, &timeout, sizeof(Interop.TimeVal)), "setsockopt(SO_RCVTIMEO)");
            int buffer = 4 * 1024 * 1024;
            Check(Interop.SetSockOpt(handle, Interop.SolSocket, Interop.SoRcvbuf, &buffer, sizeof(int)), "setsockopt(SO_RCVBUF)");
            return new NetlinkSocket(handle);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Receives one datagram; 0 on timeout, -1 when the kernel dropped messages (ENOBUFS).</summary>
    internal int Receive(Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            nint n = Interop.Receive(_handle, p, buffer.Length, 0);
            if (n >= 0)
            {
                return (int)n;
            }

            int errno = Marshal.GetLastPInvokeError();
            return errno switch
            {
                Interop.Eagain or Interop.Eintr => 0,
                Interop.Enobufs => -1,
                _ => throw new KernelSourceException("recv(netlink)", errno),
            };
        }
    }

    /// <summary>Sends one message without asking for an acknowledgement (verdicts: the kernel reports errors only).</summary>
    internal void Send(ushort type, ReadOnlySpan<byte> payload)
    {
        Span<byte> message = stackalloc byte[NetlinkMessages.Align(NetlinkMessages.HeaderLength + payload.Length)];
        message.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(message, (uint)(NetlinkMessages.HeaderLength + payload.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(message[4..], type);
        BinaryPrimitives.WriteUInt16LittleEndian(message[6..], FlagRequest);
        BinaryPrimitives.WriteUInt32LittleEndian(message[8..], ++_sequence);
        payload.CopyTo(message[NetlinkMessages.HeaderLength..]);
        fixed (byte* p = message)
        {
            if (Interop.Send(_handle, p, message.Length, 0) < 0)
            {
                throw new KernelSourceException("send(netlink)", Marshal.GetLastPInvokeError());
            }
        }
    }

    /// <summary>Sends one request with NLM_F_ACK and waits for the kernel's answer; throws with the kernel's errno on refusal.</summary>
    internal void Request(ushort type, ReadOnlySpan<byte> payload)
    {
        uint sequence = ++_sequence;
        var message = new byte[NetlinkMessages.Align(NetlinkMessages.HeaderLength + payload.Length)];
        BinaryPrimitives.WriteUInt32LittleEndian(message, (uint)(NetlinkMessages.HeaderLength + payload.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(4), type);
        BinaryPrimitives.WriteUInt16LittleEndian(message.AsSpan(6), FlagRequest | FlagAck);
        BinaryPrimitives.WriteUInt32LittleEndian(message.AsSpan(8), sequence);
        payload.CopyTo(message.AsSpan(NetlinkMessages.HeaderLength));
        fixed (byte* p = message)
        {
            if (Interop.Send(_handle, p, message.Length, 0) < 0)
            {
                throw new KernelSourceException("send(netlink)", Marshal.GetLastPInvokeError());
            }
        }

        var buffer = new byte[8192];
        for (int attempts = 0; attempts < 50; attempts++)
        {
            int n = Receive(buffer);
            if (n <= 0)
            {
                continue;
            }

            foreach (var (msgType, _, seq, body) in NetlinkMessages.Split(buffer.AsSpan(0, n)))
            {
                if (msgType == NlmsgError && seq == sequence && body.Length >= 4)
                {
                    int error = BinaryPrimitives.ReadInt32LittleEndian(body.Span);
                    if (error != 0)
                    {
                        throw new KernelSourceException($"netlink request 0x{type:x4}", -error);
                    }

                    return;
                }
            }
        }

        throw new KernelSourceException($"The kernel did not acknowledge netlink request 0x{type:x4}.");
    }

    public void Dispose() => _handle.Dispose();

    private static int CreateSocket()
    {
        int fd = Interop.Socket(Interop.AfNetlink, Interop.SockRaw | Interop.SockCloexec, Interop.NetlinkNetfilter);
        if (fd < 0)
        {
            throw new KernelSourceException("socket(AF_NETLINK, NETLINK_NETFILTER)", Marshal.GetLastPInvokeError());
        }

        return fd;
    }

    private static int CreateSocketIn(string networkNamespacePath)
    {
        // A socket lives in the namespace of the thread that created it; this thread enters the target, creates the
        // socket and goes back, all synchronously so no other work runs on it meanwhile.
        using SafeFileHandle own = File.OpenHandle("/proc/thread-self/ns/net");
        using SafeFileHandle target = File.OpenHandle(networkNamespacePath);
        if (Interop.SetNs((int)target.DangerousGetHandle(), Interop.CloneNewNet) != 0)
        {
            throw new KernelSourceException($"setns({networkNamespacePath})", Marshal.GetLastPInvokeError());
        }

        try
        {
            return CreateSocket();
        }
        finally
        {
            if (Interop.SetNs((int)own.DangerousGetHandle(), Interop.CloneNewNet) != 0)
            {
                // Leaving this thread in the sandbox's namespace would misplace whatever runs on it next.
                Environment.FailFast("Could not return a thread to its own network namespace after opening a netlink socket.");
            }
        }
    }

    private static void Check(int result, string operation)
    {
        if (result != 0)
        {
            throw new KernelSourceException(operation, Marshal.GetLastPInvokeError());
        }
    }
}
