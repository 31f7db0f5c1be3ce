using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using Moat.Detect.Capture;
using Moat.Detect.Kernel;
using Moat.Detect.Packets;

namespace Moat.Containment.Flows;

/// <summary>
/// Turns conntrack and NFLOG netlink datagrams into <see cref="KernelFlowEvent"/>s. Input is untrusted: a message
/// that is truncated, lies about a length or lacks what a flow needs is counted in <see cref="Malformed"/> and
/// skipped; nothing here throws on bad bytes.
/// </summary>
internal sealed class FlowDecoder(TimeProvider time)
{
    internal const string PrefixWord = "moat";
    private const int HeaderLength = 16;
    private const ushort FirstFamilyType = 16; // below: NLMSG_NOOP / ERROR / DONE / OVERRUN
    private const int SubsysCtnetlink = 1;
    private const ushort NflogPacket = 4 << 8;
    private const ushort NfulaTimestamp = 3;
    private const ushort NfulaPayload = 9;
    private const ushort NfulaPrefix = 10;
    private const int MaxNameLength = 64;

    /// <summary>Messages or datagram tails that could not be read as what they claimed to be.</summary>
    public long Malformed { get; private set; }

    /// <summary>Well-formed messages that are not flow events for the log (conntrack UPDATE, other NFLOG prefixes, control messages).</summary>
    public long Ignored { get; private set; }

    public void Decode(ReadOnlySpan<byte> datagram, List<KernelFlowEvent> output)
    {
        var received = Stopwatch.GetTimestamp();
        while (datagram.Length > 0)
        {
            if (datagram.Length < HeaderLength)
            {
                Malformed++;
                return;
            }

            var length = BinaryPrimitives.ReadUInt32LittleEndian(datagram);
            if (length < HeaderLength || length > (uint)datagram.Length)
            {
                Malformed++;
                return;
            }

            var type = BinaryPrimitives.ReadUInt16LittleEndian(datagram[4..]);
            var flags = BinaryPrimitives.ReadUInt16LittleEndian(datagram[6..]);
            DecodeMessage(type, flags, datagram[HeaderLength..(int)length], received, output);
            datagram = datagram[Math.Min((int)((length + 3) & ~3u), datagram.Length)..];
        }
    }

    private void DecodeMessage(ushort type, ushort flags, ReadOnlySpan<byte> body, long received, List<KernelFlowEvent> output)
    {
        if (type < FirstFamilyType)
        {
            Ignored++;
        }
        else if (type >> 8 == SubsysCtnetlink)
        {
            DecodeConntrack(type, flags, body, received, output);
        }
        else if (type == NflogPacket)
        {
            DecodeNflog(body, received, output);
        }
        else
        {
            Ignored++;
        }
    }

    private void DecodeConntrack(ushort type, ushort flags, ReadOnlySpan<byte> body, long received, List<KernelFlowEvent> output)
    {
        if ((type & 0xFF) is not (0 or 2))
        {
            Ignored++;
            return;
        }

        var entry = ConntrackEntry.Parse(type, flags, body);
        if (entry is null)
        {
            Malformed++;
            return;
        }

        if (entry.EventType == ConntrackEventType.Update)
        {
            Ignored++;
            return;
        }

        output.Add(new KernelFlowEvent(
            entry.EventType == ConntrackEventType.New ? KernelFlowKind.Opened : KernelFlowKind.Closed,
            time.GetUtcNow(),
            entry.Id,
            entry.Protocol,
            entry.Source,
            entry.SourcePort,
            entry.Destination,
            entry.DestinationPort,
            (long)Math.Min(entry.OriginalBytes, long.MaxValue),
            (long)Math.Min(entry.ReplyBytes, long.MaxValue),
            null,
            null,
            received));
    }

    private void DecodeNflog(ReadOnlySpan<byte> body, long received, List<KernelFlowEvent> output)
    {
        if (body.Length < 4)
        {
            Malformed++;
            return;
        }

        var attributes = body[4..]; // struct nfgenmsg
        if (!NetlinkMessages.TryFind(attributes, NfulaPrefix, out var prefixBytes))
        {
            Ignored++;
            return;
        }

        var prefix = ParsePrefix(prefixBytes);
        if (prefix is null)
        {
            Ignored++;
            return;
        }

        if (!NetlinkMessages.TryFind(attributes, NfulaPayload, out var payload)
            || PacketDecoder.Decode(LinkType.Raw, payload) is not { } packet)
        {
            Malformed++;
            return;
        }

        var ipLength = packet.Source.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && payload.Length >= 4
            ? BinaryPrimitives.ReadUInt16BigEndian(payload[2..])
            : packet.PayloadLength + 40;
        output.Add(new KernelFlowEvent(
            KernelFlowKind.Refused,
            Timestamp(attributes),
            0,
            packet.ProtocolNumber,
            packet.Source,
            packet.SourcePort,
            packet.Destination,
            packet.DestinationPort,
            ipLength,
            0,
            prefix.Value.SandboxId,
            prefix.Value.Rule,
            received));
    }

    /// <summary>"moat &lt;sandbox&gt; &lt;rule&gt;" (NUL-terminated); null for anyone else's prefix or one that does not fit.</summary>
    internal static (string SandboxId, string Rule)? ParsePrefix(ReadOnlySpan<byte> value)
    {
        var end = value.IndexOf((byte)0);
        var text = Encoding.ASCII.GetString(end < 0 ? value : value[..end]);
        var parts = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 3 || parts[0] != PrefixWord || !IsName(parts[1]) || !IsName(parts[2]))
        {
            return null;
        }

        return (parts[1], parts[2]);
    }

    private static bool IsName(string s) =>
        s.Length is > 0 and <= MaxNameLength && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':' or '/');

    private DateTimeOffset Timestamp(ReadOnlySpan<byte> attributes)
    {
        if (NetlinkMessages.TryFind(attributes, NfulaTimestamp, out var value) && value.Length >= 16)
        {
            var seconds = BinaryPrimitives.ReadUInt64BigEndian(value);
            var micros = BinaryPrimitives.ReadUInt64BigEndian(value[8..]);
            if (micros < 1_000_000 && seconds < 253_402_300_800)
            {
                return DateTimeOffset.FromUnixTimeSeconds((long)seconds).AddTicks((long)micros * 10);
            }
        }

        return time.GetUtcNow();
    }
}
