using System.Buffers.Binary;
using System.Net;
using Moat.Containment.Flows;
using static Moat.Containment.Tests.Flows.NetlinkCraft;

namespace Moat.Containment.Tests.Flows;

public sealed class FlowDecoderTests
{
    private static (List<KernelFlowEvent> Events, FlowDecoder Decoder) Decode(params byte[][] datagrams)
    {
        var decoder = new FlowDecoder(TimeProvider.System);
        var events = new List<KernelFlowEvent>();
        foreach (var d in datagrams)
        {
            decoder.Decode(d, events);
        }

        return (events, decoder);
    }

    [Fact]
    public void Conntrack_new_and_destroy_become_opened_and_closed_with_the_tuple_and_counters()
    {
        var datagram = Conntrack(CtNew, NlmFCreate, 77, "198.18.10.2", 40000, "198.18.50.1", 80, 6)
            .Concat(Conntrack(CtDelete, 0, 77, "198.18.10.2", 40000, "198.18.50.1", 80, 6, origBytes: 1234, replyBytes: 98765)).ToArray();
        var (events, decoder) = Decode(datagram);

        Assert.Equal(2, events.Count);
        Assert.Equal(KernelFlowKind.Opened, events[0].Kind);
        Assert.Equal((77u, (byte)6, IPAddress.Parse("198.18.10.2"), 40000, IPAddress.Parse("198.18.50.1"), 80),
            (events[0].ConntrackId, events[0].Protocol, events[0].Source, events[0].SourcePort, events[0].Destination, events[0].DestinationPort));
        Assert.Equal(KernelFlowKind.Closed, events[1].Kind);
        Assert.Equal((1234L, 98765L), (events[1].OriginalBytes, events[1].ReplyBytes));
        Assert.Equal(0, decoder.Malformed);
    }

    [Fact]
    public void Conntrack_update_is_ignored_not_recorded()
    {
        var (events, decoder) = Decode(Conntrack(CtNew, 0, 5, "198.18.10.2", 1, "198.18.50.1", 2, 17));
        Assert.Empty(events);
        Assert.Equal(1, decoder.Ignored);
        Assert.Equal(0, decoder.Malformed);
    }

    [Fact]
    public void Nflog_packet_with_a_moat_prefix_is_a_refusal_naming_sandbox_rule_and_tuple()
    {
        var (events, decoder) = Decode(Nflog("moat sbx7 smtp-closed", TcpSyn("198.18.10.2", 41000, "198.18.50.1", 25), seconds: 1_800_000_000));
        var e = Assert.Single(events);
        Assert.Equal(KernelFlowKind.Refused, e.Kind);
        Assert.Equal(("sbx7", "smtp-closed"), (e.SandboxId, e.Rule));
        Assert.Equal((IPAddress.Parse("198.18.10.2"), 41000, IPAddress.Parse("198.18.50.1"), 25, (byte)6), (e.Source, e.SourcePort, e.Destination, e.DestinationPort, e.Protocol));
        Assert.Equal(60, e.OriginalBytes);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(1_800_000_000).AddMilliseconds(250), e.Time);
        Assert.Equal(0, decoder.Malformed);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("someone else's prefix")]
    [InlineData("moat onlytwo")]
    [InlineData("moat a b c")]
    [InlineData("moat s1 rule;drop")]
    public void Nflog_packets_without_a_well_formed_moat_prefix_are_ignored(string? prefix)
    {
        var (events, decoder) = Decode(Nflog(prefix, TcpSyn("198.18.10.2", 1, "198.18.50.1", 2)));
        Assert.Empty(events);
        Assert.Equal(1, decoder.Ignored);
    }

    [Fact]
    public void Truncated_and_lying_messages_are_counted_and_the_good_ones_around_them_still_decoded()
    {
        var good = Conntrack(CtNew, NlmFCreate, 1, "198.18.10.2", 1000, "198.18.50.1", 80, 6);
        var noTuple = Message(CtNew, NlmFCreate, Attribute(12, Be32(9)));
        var garbagePayload = Nflog("moat s1 r1", [0x45, 0, 0]);
        var lyingAttribute = Message(CtNew, NlmFCreate, [0xFF, 0x00, 0x01, 0x80, 1, 2, 3, 4]);
        var (events, decoder) = Decode(
            [.. good, .. noTuple, .. garbagePayload, .. lyingAttribute, .. good],
            good[..20],                                   // header claims more than the datagram holds
            [.. good, 1, 2, 3]);                          // a tail too short for a header
        Assert.Equal(3, events.Count);
        Assert.All(events, e => Assert.Equal(KernelFlowKind.Opened, e.Kind));
        Assert.Equal(5, decoder.Malformed);
    }

    [Fact]
    public void A_header_length_below_the_header_size_ends_the_datagram_without_looping()
    {
        var message = Conntrack(CtNew, NlmFCreate, 1, "198.18.10.2", 1, "198.18.50.1", 2, 6);
        BinaryPrimitives.WriteUInt32LittleEndian(message, 4);
        var (events, decoder) = Decode(message);
        Assert.Empty(events);
        Assert.Equal(1, decoder.Malformed);
    }

    [Fact]
    public void Random_bytes_and_mutated_messages_never_throw()
    {
        var random = new Random(20261202);
        var seeds = new[]
        {
            Conntrack(CtDelete, 0, 3, "198.18.10.2", 1, "198.18.50.1", 2, 6, 10, 20),
            Nflog("moat s1 r1", TcpSyn("198.18.10.2", 1, "198.18.50.1", 2), 1),
        };
        var decoder = new FlowDecoder(TimeProvider.System);
        var events = new List<KernelFlowEvent>();
        for (var i = 0; i < 20_000; i++)
        {
            byte[] datagram;
            if (i % 2 == 0)
            {
                datagram = new byte[random.Next(0, 200)];
                random.NextBytes(datagram);
            }
            else
            {
                datagram = (byte[])seeds[i % 4 / 2].Clone();
                for (var flips = random.Next(1, 6); flips > 0; flips--)
                {
                    datagram[random.Next(datagram.Length)] = (byte)random.Next(256);
                }

                datagram = datagram[..random.Next(datagram.Length + 1)];
            }

            decoder.Decode(datagram, events);
        }

        Assert.True(decoder.Malformed > 0);
    }

    [Theory]
    [InlineData("moat s1 r1", "s1", "r1")]
    [InlineData("moat  sbx-9  untrusted.default ", "sbx-9", "untrusted.default")]
    public void Prefix_names_sandbox_and_rule(string prefix, string sandbox, string rule) =>
        Assert.Equal((sandbox, rule), FlowDecoder.ParsePrefix([.. System.Text.Encoding.ASCII.GetBytes(prefix), 0]));
}
