using System.Text;
using Moat.Xmpp.Xml;

namespace Moat.Xmpp.Tests.Xml;

public sealed class StanzaFramerTests
{
    private const string Header = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='x' version='1.0'>";

    private static List<Frame> FeedAll(StanzaFramer framer, string text, int chunk = int.MaxValue)
    {
        var frames = new List<Frame>();
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        for (int i = 0; i < bytes.Length; i += chunk)
        {
            framer.Feed(bytes.AsSpan(i, Math.Min(chunk, bytes.Length - i)));
            for (var f = framer.Next(); f.Kind != FrameKind.None; f = framer.Next())
            {
                frames.Add(f);
            }
        }

        return frames;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(100000)]
    public void Splits_stanzas_whatever_the_read_boundaries(int chunk)
    {
        string stanzas = "<message to='a@b' id='1'><body>a &gt; b &amp; 'q'</body></message> \n<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq><presence/>";
        var frames = FeedAll(new StanzaFramer(10000, 16), Header + stanzas + "</stream:stream>", chunk);
        Assert.Equal([FrameKind.StreamHeader, FrameKind.Stanza, FrameKind.Stanza, FrameKind.Stanza, FrameKind.StreamEnd], frames.Select(f => f.Kind));
        var message = StanzaParser.ParseStanza(frames[1].Text);
        Assert.Equal("a > b & 'q'", message.Value);
        Assert.Equal("ping", StanzaParser.ParseStanza(frames[2].Text).Elements().Single().Name.LocalName);
        Assert.Equal("<presence/>", frames[3].Text);
    }

    [Fact]
    public void Keeps_reading_a_never_ending_stream_without_growing()
    {
        var framer = new StanzaFramer(1000, 8);
        FeedAll(framer, Header);
        int count = 0;
        for (int i = 0; i < 20000; i++)
        {
            count += FeedAll(framer, $"<message id='{i}'><body>x</body></message>  ").Count;
        }

        Assert.Equal(20000, count);
    }

    [Theory]
    [InlineData("<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\">]><message>&lol2;</message>")]
    [InlineData("<message><!-- comment --></message>")]
    [InlineData("<message><![CDATA[x]]></message>")]
    [InlineData("<?php evil ?>")]
    [InlineData("garbage that is not xml")]
    [InlineData("<message a='<'/>")]
    [InlineData("<message <iq/>")]
    public void Refuses_restricted_or_broken_xml(string hostile)
    {
        var framer = new StanzaFramer(10000, 16);
        Assert.Throws<XmppStreamException>(() => FeedAll(framer, Header + hostile));
    }

    [Fact]
    public void Refuses_deep_nesting()
    {
        var framer = new StanzaFramer(1 << 20, 32);
        var e = Assert.Throws<XmppStreamException>(() => FeedAll(framer, Header + "<message>" + string.Concat(Enumerable.Repeat("<a>", 100000))));
        Assert.Equal("policy-violation", e.Condition);
    }

    [Fact]
    public void Refuses_a_stanza_over_the_size_limit_before_it_ends()
    {
        var framer = new StanzaFramer(4096, 32);
        var e = Assert.Throws<XmppStreamException>(() => FeedAll(framer, Header + "<message><body>" + new string('x', 5000), chunk: 512));
        Assert.Equal("policy-violation", e.Condition);
    }

    [Fact]
    public void The_parser_rejects_entities_the_framer_cannot_see()
    {
        var framer = new StanzaFramer(10000, 16);
        var frames = FeedAll(framer, Header + "<message>&xxe;</message>");
        Assert.Throws<XmppStreamException>(() => StanzaParser.ParseStanza(frames[1].Text));
    }

    [Fact]
    public void The_parser_rejects_mismatched_tags()
    {
        var framer = new StanzaFramer(10000, 16);
        var frames = FeedAll(framer, Header + "<message><body></message></body>");
        Assert.Throws<XmppStreamException>(() => StanzaParser.ParseStanza(frames[1].Text));
    }
}
