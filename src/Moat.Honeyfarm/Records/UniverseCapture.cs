using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.InteropServices;
using Moat.Detect.Capture;
using Moat.Honeyfarm.Interop;
using Moat.Linux.Namespaces;

namespace Moat.Honeyfarm.Records;

/// <summary>
/// Per-universe packet capture: one AF_PACKET socket in the gateway's namespace sees every frame on every link; a
/// frame on a universe's TUN device or on one of its clones' links is appended to that universe's pcap file
/// (<c>universe-ID.pcap</c>, raw IPv4, readable by tcpdump and `moat detect replay`), up to a size per universe.
/// Everything a universe's clones sent or received is there, after binding too (when the kernel, not the gateway,
/// forwards it). A packet between two clones of a universe is seen leaving one and entering the other: twice.
/// </summary>
internal sealed class UniverseCapture : IAsyncDisposable
{
    private const ushort ArphrdEther = 1;
    private readonly SafeFd _socket;
    private readonly string _folder;
    private readonly long _maxBytes;
    private readonly ConcurrentDictionary<int, int> _universeOfLink = new();
    private readonly ConcurrentDictionary<int, Writer> _writers = new();
    private readonly Thread _reader;
    private volatile bool _stop;
    private long _packets;
    private long _truncated;

    private UniverseCapture(SafeFd socket, string folder, long maxBytes)
    {
        _socket = socket;
        _folder = folder;
        _maxBytes = maxBytes;
        _reader = new Thread(Read) { IsBackground = true, Name = "moat-hf-capture" };
        _reader.Start();
    }

    public long Packets => Interlocked.Read(ref _packets);

    /// <summary>Packets left out because their universe's file reached its size.</summary>
    public long Truncated => Interlocked.Read(ref _truncated);

    public string Folder => _folder;

    public static UniverseCapture Start(NetworkNamespace ns, string folder, long maxBytesPerUniverse)
    {
        Directory.CreateDirectory(folder);
        var fd = NamespaceRunner.Run(ns, () => Libc.Socket(Libc.AF_PACKET, Libc.SOCK_RAW | Libc.SOCK_CLOEXEC, BinaryPrimitives.ReverseEndianness(Libc.ETH_P_ALL)));
        if (fd < 0)
        {
            throw new HoneyfarmSystemException(Marshal.GetLastPInvokeError(), "socket(AF_PACKET) for the universe capture");
        }

        return new UniverseCapture(new SafeFd(fd), folder, maxBytesPerUniverse);
    }

    /// <summary>Frames on link <paramref name="ifindex"/> (a clone's link or a universe's TUN) belong to <paramref name="universe"/> from now on.</summary>
    public void Attach(int ifindex, int universe) => _universeOfLink[ifindex] = universe;

    public void Detach(int ifindex) => _universeOfLink.TryRemove(ifindex, out _);

    /// <summary>The capture file of a universe (it may not exist yet if nothing was seen).</summary>
    public string PathOf(int universe) => Path.Combine(_folder, string.Create(CultureInfo.InvariantCulture, $"universe-{universe}.pcap"));

    private unsafe void Read()
    {
        var buffer = new byte[65536];
        var address = stackalloc byte[32];
        var fds = stackalloc Libc.PollFd[1];
        fds[0] = new Libc.PollFd { Fd = _socket.Fd, Events = Libc.POLLIN };
        while (!_stop)
        {
            fds[0].Revents = 0;
            if (Libc.Poll(fds, 1, 200) <= 0)
            {
                continue;
            }

            int addressLength = 32;
            nint n;
            fixed (byte* p = buffer)
            {
                n = Libc.RecvFrom(_socket.Fd, p, buffer.Length, 0x40 /* MSG_DONTWAIT */, address, &addressLength);
            }

            if (n <= 0)
            {
                continue;
            }

            // struct sockaddr_ll: family (2), protocol (2, network order), ifindex (4), hatype (2), pkttype (1), ...
            int ifindex = BinaryPrimitives.ReadInt32LittleEndian(new ReadOnlySpan<byte>(address + 4, 4));
            ushort hatype = BinaryPrimitives.ReadUInt16LittleEndian(new ReadOnlySpan<byte>(address + 8, 2));
            if (!_universeOfLink.TryGetValue(ifindex, out var universe))
            {
                continue;
            }

            var frame = buffer.AsSpan(0, (int)n);
            if (hatype == ArphrdEther)
            {
                if (frame.Length < 14 + 20 || BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) != 0x0800)
                {
                    continue; // ARP and anything not IPv4
                }

                frame = frame[14..];
            }

            if (frame.Length < 20 || (frame[0] >> 4) != 4)
            {
                continue;
            }

            var writer = _writers.GetOrAdd(universe, u => new Writer(PathOf(u)));
            if (writer.Bytes + frame.Length + 16 > _maxBytes)
            {
                Interlocked.Increment(ref _truncated);
                continue;
            }

            writer.Write(frame);
            Interlocked.Increment(ref _packets);
        }
    }

    /// <summary>Closes a universe's file (it stays on disk).</summary>
    public void Close(int universe)
    {
        if (_writers.TryRemove(universe, out var writer))
        {
            writer.Dispose();
        }
    }

    public ValueTask DisposeAsync()
    {
        _stop = true;
        _reader.Join();
        foreach (var writer in _writers.Values)
        {
            writer.Dispose();
        }

        _socket.Dispose();
        return ValueTask.CompletedTask;
    }

    private sealed class Writer : IDisposable
    {
        private readonly Lock _gate = new();
        private readonly FileStream _file;
        private readonly PcapWriter _pcap;

        public Writer(string path)
        {
            _file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 65536);
            _pcap = new PcapWriter(_file, LinkType.Raw);
            Bytes = 24;
        }

        public long Bytes { get; private set; }

        public void Write(ReadOnlySpan<byte> packet)
        {
            lock (_gate)
            {
                _pcap.Write(DateTimeOffset.UtcNow, packet, packet.Length);
                Bytes += 16 + packet.Length;
            }
        }

        public void Dispose()
        {
            lock (_gate)
            {
                _pcap.Dispose();
                _file.Dispose();
            }
        }
    }
}
