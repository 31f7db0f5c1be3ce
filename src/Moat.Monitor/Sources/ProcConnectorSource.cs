using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Versioning;
using Microsoft.Win32.SafeHandles;
using static Moat.Monitor.Interop.Interop;

namespace Moat.Monitor.Sources;

/// <summary>
/// Reads fork/exec/exit events from the netlink proc connector. Every exec in the kernel is reported,
/// however short the process lives; a full socket buffer (ENOBUFS) or a hole in a CPU's event sequence
/// is reported as a gap instead of being silently skipped.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class ProcConnectorSource : IDisposable
{
    private const uint CN_IDX_PROC = 1;
    private const uint CN_VAL_PROC = 1;
    private const uint PROC_CN_MCAST_LISTEN = 1;
    private const ushort NLMSG_DONE = 3;
    private const uint PROC_EVENT_FORK = 1;
    private const uint PROC_EVENT_EXEC = 2;
    private const uint PROC_EVENT_EXIT = 0x80000000;
    private const int NlmsgHeaderLength = 16;
    private const int CnMsgLength = 20;
    private const int EventOffset = NlmsgHeaderLength + CnMsgLength;

    private readonly SafeFileHandle _socket;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private readonly Dictionary<int, uint> _nextSequenceByCpu = [];

    private ProcConnectorSource(SafeFileHandle socket) => _socket = socket;

    public SafeFileHandle Handle => _socket;

    /// <summary>Opens a non-blocking proc connector socket and subscribes to process events.</summary>
    public static unsafe ProcConnectorSource Open(int receiveBufferBytes = 16 * 1024 * 1024)
    {
        int fd = Socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR);
        if (fd < 0)
        {
            throw new MonitorKernelException("socket(NETLINK_CONNECTOR)", Marshal.GetLastPInvokeError());
        }

        var handle = OwnHandle(fd);
        try
        {
            // A large buffer makes ENOBUFS rare under exec storms; it is forced because the monitor runs as root.
            _ = SetSockOpt(handle, SOL_SOCKET, SO_RCVBUFFORCE, receiveBufferBytes, sizeof(int));
            var address = new SockaddrNl { Family = AF_NETLINK, Pid = 0, Groups = CN_IDX_PROC };
            if (Bind(handle, address, sizeof(SockaddrNl)) != 0)
            {
                throw new MonitorKernelException("bind(NETLINK_CONNECTOR)", Marshal.GetLastPInvokeError());
            }

            Span<byte> message = stackalloc byte[EventOffset + 4];
            message.Clear();
            BinaryPrimitives.WriteUInt32LittleEndian(message, (uint)message.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(message[4..], NLMSG_DONE);
            BinaryPrimitives.WriteUInt32LittleEndian(message[NlmsgHeaderLength..], CN_IDX_PROC);
            BinaryPrimitives.WriteUInt32LittleEndian(message[(NlmsgHeaderLength + 4)..], CN_VAL_PROC);
            BinaryPrimitives.WriteUInt16LittleEndian(message[(NlmsgHeaderLength + 16)..], 4);
            BinaryPrimitives.WriteUInt32LittleEndian(message[EventOffset..], PROC_CN_MCAST_LISTEN);
            fixed (byte* p = message)
            {
                if (Send(handle, p, message.Length, 0) < 0)
                {
                    throw new MonitorKernelException("send(PROC_CN_MCAST_LISTEN)", Marshal.GetLastPInvokeError());
                }
            }

            return new ProcConnectorSource(handle);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Reads every queued message without blocking; returns when the socket is empty.</summary>
    public unsafe void Drain(Action<ProcEvent> onEvent, Action<string> onGap)
    {
        while (true)
        {
            nint received;
            fixed (byte* p = _buffer)
            {
                received = Recv(_socket, p, _buffer.Length, MSG_DONTWAIT);
            }

            if (received < 0)
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

                if (errno == ENOBUFS)
                {
                    // Sequence numbers restart from what the next message says; the hole itself is this gap.
                    _nextSequenceByCpu.Clear();
                    onGap("proc connector socket overflowed (ENOBUFS): some fork/exec/exit events were lost");
                    continue;
                }

                throw new MonitorKernelException("recv(NETLINK_CONNECTOR)", errno);
            }

            ParseDatagram(_buffer.AsSpan(0, (int)received), onEvent, onGap);
        }
    }

    private void ParseDatagram(ReadOnlySpan<byte> datagram, Action<ProcEvent> onEvent, Action<string> onGap)
    {
        while (datagram.Length >= NlmsgHeaderLength)
        {
            int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(datagram);
            if (length < NlmsgHeaderLength || length > datagram.Length)
            {
                return;
            }

            var message = datagram[..length];
            if (TryParse(message, out var procEvent, out uint sequence))
            {
                CheckSequence(procEvent.Cpu, sequence, onGap);
                if (procEvent.Kind is ProcEventKind.Fork or ProcEventKind.Exec or ProcEventKind.Exit)
                {
                    onEvent(procEvent);
                }
            }

            int aligned = (length + 3) & ~3;
            if (aligned >= datagram.Length)
            {
                return;
            }

            datagram = datagram[aligned..];
        }
    }

    private void CheckSequence(int cpu, uint sequence, Action<string> onGap)
    {
        // The kernel numbers proc events per CPU; a jump means events were dropped before reaching us.
        if (_nextSequenceByCpu.TryGetValue(cpu, out uint expected) && sequence != expected && sequence - expected < uint.MaxValue / 2)
        {
            onGap($"proc connector sequence on cpu {cpu} jumped from {expected} to {sequence}: {sequence - expected} events lost");
        }

        _nextSequenceByCpu[cpu] = sequence + 1;
    }

    /// <summary>Parses one netlink message carrying a cn_msg with a proc_event.</summary>
    internal static bool TryParse(ReadOnlySpan<byte> message, out ProcEvent procEvent, out uint sequence)
    {
        procEvent = default;
        sequence = 0;
        if (message.Length < EventOffset + 16)
        {
            return false;
        }

        var cn = message[NlmsgHeaderLength..];
        if (BinaryPrimitives.ReadUInt32LittleEndian(cn) != CN_IDX_PROC || BinaryPrimitives.ReadUInt32LittleEndian(cn[4..]) != CN_VAL_PROC)
        {
            return false;
        }

        sequence = BinaryPrimitives.ReadUInt32LittleEndian(cn[8..]);
        var ev = message[EventOffset..];
        uint what = BinaryPrimitives.ReadUInt32LittleEndian(ev);
        int cpu = (int)BinaryPrimitives.ReadUInt32LittleEndian(ev[4..]);
        ulong timestamp = BinaryPrimitives.ReadUInt64LittleEndian(ev[8..]);
        Span<int> f = stackalloc int[6];
        var data = ev[16..];
        for (int i = 0; i < f.Length && data.Length >= (i + 1) * 4; i++)
        {
            f[i] = BinaryPrimitives.ReadInt32LittleEndian(data[(i * 4)..]);
        }

        procEvent = what switch
        {
            PROC_EVENT_FORK => new ProcEvent(ProcEventKind.Fork, f[2], f[3], f[1], cpu, timestamp),
            PROC_EVENT_EXEC => new ProcEvent(ProcEventKind.Exec, f[0], f[1], 0, cpu, timestamp),
            PROC_EVENT_EXIT => new ProcEvent(ProcEventKind.Exit, f[0], f[1], f[5], cpu, timestamp),
            _ => new ProcEvent((ProcEventKind)(-1), 0, 0, 0, cpu, timestamp),
        };
        return true;
    }

    public void Dispose() => _socket.Dispose();
}
