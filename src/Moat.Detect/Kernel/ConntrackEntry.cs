using System.Buffers.Binary;
using System.Net;

namespace Moat.Detect.Kernel;

/// <summary>What ctnetlink said about one connection in one event (nfnetlink_conntrack.h attributes).</summary>
internal sealed record ConntrackEntry(
    ConntrackEventType EventType,
    uint Id,
    IPAddress Source,
    int SourcePort,
    IPAddress Destination,
    int DestinationPort,
    byte Protocol,
    uint Status,
    byte? TcpState,
    ulong OriginalBytes,
    ulong ReplyBytes)
{
    internal const uint StatusSeenReply = 1 << 1;
    internal const byte TcpSynRecv = 2;
    internal const byte TcpEstablished = 3;
    internal const byte TcpClose = 8;

    private const int NfnlSubsysCtnetlink = 1;
    private const int MsgNew = 0;
    private const int MsgDelete = 2;
    private const ushort NlmFCreate = 0x400;
    private const ushort CtaTupleOrig = 1;
    private const ushort CtaStatus = 3;
    private const ushort CtaProtoinfo = 4;
    private const ushort CtaCountersOrig = 9;
    private const ushort CtaCountersReply = 10;
    private const ushort CtaId = 12;
    private const ushort CtaTupleIp = 1;
    private const ushort CtaTupleProto = 2;
    private const ushort CtaIpV4Src = 1;
    private const ushort CtaIpV4Dst = 2;
    private const ushort CtaIpV6Src = 3;
    private const ushort CtaIpV6Dst = 4;
    private const ushort CtaProtoNum = 1;
    private const ushort CtaProtoSrcPort = 2;
    private const ushort CtaProtoDstPort = 3;
    private const ushort CtaProtoinfoTcp = 1;
    private const ushort CtaProtoinfoTcpState = 1;
    private const ushort CtaCountersBytes = 2;

    /// <summary>Parses one ctnetlink message (after the nlmsghdr); null when it is not a conntrack event or lacks the original tuple.</summary>
    internal static ConntrackEntry? Parse(ushort messageType, ushort flags, ReadOnlySpan<byte> body)
    {
        if (messageType >> 8 != NfnlSubsysCtnetlink || body.Length < 4)
        {
            return null;
        }

        var eventType = (messageType & 0xFF) switch
        {
            MsgNew => (flags & NlmFCreate) != 0 ? ConntrackEventType.New : ConntrackEventType.Update,
            MsgDelete => ConntrackEventType.Destroy,
            _ => (ConntrackEventType?)null,
        };
        if (eventType is null)
        {
            return null;
        }

        var attributes = body[4..]; // struct nfgenmsg
        if (!NetlinkMessages.TryFind(attributes, CtaTupleOrig, out var tuple)
            || !NetlinkMessages.TryFind(tuple, CtaTupleIp, out var ip)
            || !NetlinkMessages.TryFind(tuple, CtaTupleProto, out var proto))
        {
            return null;
        }

        IPAddress? source = Address(ip, CtaIpV4Src, 4) ?? Address(ip, CtaIpV6Src, 16);
        IPAddress? destination = Address(ip, CtaIpV4Dst, 4) ?? Address(ip, CtaIpV6Dst, 16);
        if (source is null || destination is null || !NetlinkMessages.TryFind(proto, CtaProtoNum, out var number) || number.IsEmpty)
        {
            return null;
        }

        byte? tcpState = null;
        if (NetlinkMessages.TryFind(attributes, CtaProtoinfo, out var protoinfo)
            && NetlinkMessages.TryFind(protoinfo, CtaProtoinfoTcp, out var tcp)
            && NetlinkMessages.TryFind(tcp, CtaProtoinfoTcpState, out var state)
            && !state.IsEmpty)
        {
            tcpState = state[0];
        }

        return new ConntrackEntry(
            eventType.Value,
            BigEndian32(attributes, CtaId),
            source,
            Port(proto, CtaProtoSrcPort),
            destination,
            Port(proto, CtaProtoDstPort),
            number[0],
            BigEndian32(attributes, CtaStatus),
            tcpState,
            Counter(attributes, CtaCountersOrig),
            Counter(attributes, CtaCountersReply));
    }

    private static IPAddress? Address(ReadOnlySpan<byte> ip, ushort type, int length) =>
        NetlinkMessages.TryFind(ip, type, out var value) && value.Length == length ? new IPAddress(value) : null;

    private static int Port(ReadOnlySpan<byte> proto, ushort type) =>
        NetlinkMessages.TryFind(proto, type, out var value) && value.Length >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(value) : 0;

    private static uint BigEndian32(ReadOnlySpan<byte> attributes, ushort type) =>
        NetlinkMessages.TryFind(attributes, type, out var value) && value.Length >= 4 ? BinaryPrimitives.ReadUInt32BigEndian(value) : 0;

    private static ulong Counter(ReadOnlySpan<byte> attributes, ushort type) =>
        NetlinkMessages.TryFind(attributes, type, out var counters)
        && NetlinkMessages.TryFind(counters, CtaCountersBytes, out var bytes)
        && bytes.Length >= 8
            ? BinaryPrimitives.ReadUInt64BigEndian(bytes)
            : 0;
}

/// <summary>The three conntrack event groups.</summary>
internal enum ConntrackEventType
{
    New,
    Update,
    Destroy,
}
