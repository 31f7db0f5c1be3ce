using System.Buffers.Binary;
using Moat.Detect.Flows;
using Moat.Detect.Kernel;

namespace Moat.Detect.Tests.Kernel;

/// <summary>ctnetlink messages built by hand from nfnetlink_conntrack.h, parsed and mapped to flow events.</summary>
public sealed class ConntrackMessageTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 22, 7, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Parse_NewTcpEntry_ReadsTupleStatusStateAndCounters()
    {
        var body = Message(id: 77, status: 0, tcpState: 1, origBytes: 60, replyBytes: 0);

        var entry = ConntrackEntry.Parse((1 << 8) | 0, 0x400, body);

        Assert.NotNull(entry);
        Assert.Equal(ConntrackEventType.New, entry.EventType);
        Assert.Equal(77u, entry.Id);
        Assert.Equal("198.19.252.1", entry.Source.ToString());
        Assert.Equal("198.19.252.2", entry.Destination.ToString());
        Assert.Equal(40000, entry.SourcePort);
        Assert.Equal(81, entry.DestinationPort);
        Assert.Equal(6, entry.Protocol);
        Assert.Equal((byte)1, entry.TcpState);
        Assert.Equal(60ul, entry.OriginalBytes);
    }

    [Fact]
    public void Parse_TruncatedOrForeignMessages_AreIgnored()
    {
        var body = Message(id: 1, status: 0, tcpState: 1, origBytes: 0, replyBytes: 0);

        Assert.Null(ConntrackEntry.Parse((2 << 8) | 0, 0, body));
        for (int cut = 0; cut < body.Length; cut++)
        {
            _ = ConntrackEntry.Parse((1 << 8) | 0, 0x400, body.AsSpan(0, cut));
        }
    }

    [Fact]
    public void Mapper_NewThenRstClose_IsAttemptThenRefused_AndDestroyAddsNothing()
    {
        var mapper = new ConntrackFlowMapper();
        var events = new List<FlowEvent>();

        Map(mapper, events, 0x400, 0, status: 0, tcpState: 1);
        Map(mapper, events, 0, 0, status: ConntrackEntry.StatusSeenReply, tcpState: 8);
        Map(mapper, events, 0, 2, status: ConntrackEntry.StatusSeenReply, tcpState: 8);

        Assert.Equal([FlowEventKind.Attempt, FlowEventKind.Refused], events.Select(e => e.Kind));
        Assert.All(events, e => Assert.Equal("sb", e.SandboxId));
    }

    [Fact]
    public void Mapper_EstablishedThenDestroy_IsClosedWithBothCounters()
    {
        var mapper = new ConntrackFlowMapper();
        var events = new List<FlowEvent>();

        Map(mapper, events, 0x400, 0, status: 0, tcpState: 1);
        Map(mapper, events, 0, 0, status: ConntrackEntry.StatusSeenReply, tcpState: 3);
        Map(mapper, events, 0, 2, status: ConntrackEntry.StatusSeenReply, tcpState: 7, origBytes: 100, replyBytes: 900);

        Assert.Equal([FlowEventKind.Attempt, FlowEventKind.Established, FlowEventKind.Closed], events.Select(e => e.Kind));
        Assert.Equal(1000, events[2].Bytes);
    }

    [Fact]
    public void Mapper_UnansweredThenDestroy_IsTimedOut()
    {
        var mapper = new ConntrackFlowMapper();
        var events = new List<FlowEvent>();

        Map(mapper, events, 0x400, 0, status: 0, tcpState: 1);
        Map(mapper, events, 0, 2, status: 0, tcpState: 1);

        Assert.Equal([FlowEventKind.Attempt, FlowEventKind.TimedOut], events.Select(e => e.Kind));
    }

    private static void Map(ConntrackFlowMapper mapper, List<FlowEvent> events, ushort flags, int msg, uint status, byte tcpState, ulong origBytes = 0, ulong replyBytes = 0)
    {
        var entry = ConntrackEntry.Parse((ushort)((1 << 8) | msg), flags, Message(5, status, tcpState, origBytes, replyBytes))!;
        mapper.Map(entry, Now, "sb", events);
    }

    private static byte[] Message(uint id, uint status, byte tcpState, ulong origBytes, ulong replyBytes)
    {
        var ip = Concat(Attr(1, [198, 19, 252, 1]), Attr(2, [198, 19, 252, 2]));
        var proto = Concat(Attr(1, [6]), Attr(2, Be16(40000)), Attr(3, Be16(81)));
        var tuple = Concat(Attr(1 | 0x8000, ip), Attr(2 | 0x8000, proto));
        var protoinfo = Attr(1 | 0x8000, Attr(1, [tcpState]));
        byte[] nfgenmsg = [2, 0, 0, 0];
        return Concat(
            nfgenmsg,
            Attr(1 | 0x8000, tuple),
            Attr(3, Be32(status)),
            Attr(4 | 0x8000, protoinfo),
            Attr(9 | 0x8000, Concat(Attr(1, Be64(1)), Attr(2, Be64(origBytes)))),
            Attr(10 | 0x8000, Concat(Attr(1, Be64(1)), Attr(2, Be64(replyBytes)))),
            Attr(12, Be32(id)));
    }

    private static byte[] Attr(int type, byte[] value)
    {
        var a = new byte[(4 + value.Length + 3) & ~3];
        BinaryPrimitives.WriteUInt16LittleEndian(a, (ushort)(4 + value.Length));
        BinaryPrimitives.WriteUInt16LittleEndian(a.AsSpan(2), (ushort)type);
        value.CopyTo(a, 4);
        return a;
    }

    private static byte[] Concat(params byte[][] parts) => [.. parts.SelectMany(p => p)];

    private static byte[] Be16(ushort v)
    {
        var b = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(b, v);
        return b;
    }

    private static byte[] Be32(uint v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, v);
        return b;
    }

    private static byte[] Be64(ulong v)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, v);
        return b;
    }
}
