using System.Text;
using System.Xml.Linq;
using Moat.Fuzz.Engine;
using Moat.Jobs.Protocol;
using Moat.Jobs.Store;
using Moat.Xmpp;
using Moat.Xmpp.Bytestreams;
using Moat.Xmpp.Xml;

namespace Moat.Fuzz.Targets;

/// <summary>The XMPP stream (framer and stanza parser), in-band bytestreams and the job protocol on top of it.</summary>
internal static class XmppTargets
{
    private const string Header = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='moat' id='s1' version='1.0'>";
    private const string Peer = "peer@moat/agent";

    // StanzaParser builds an XmlReader per stanza (about 10 KB of buffers), so an input of ten-byte stanzas such as
    // "<iq ></iq>" costs about 1 KB per byte: proportional to the input, which is what the budget is for.
    private const long PerStanzaBudget = 2048;

    private static readonly IReadOnlyList<byte[]> XmlTokens = SeedFiles.Tokens(
        "<", ">", "/>", "</", "'", "\"", "=", "<?", "?>", "<!--", "<![CDATA[", "&amp;", "&#0;", "&#x10FFFF;", "&lt;", "xmlns='x'",
        "xmlns:", "stream:", "<iq", "</iq>", " type='set'", " type='result'", " from='peer@moat/agent'", "-1", "0",
        "99999999999999999999", "2147483648", "65535", "65536", "\u00e9", "\uffff", "\0");

    public static FuzzTarget Stream() => new()
    {
        Name = "xmpp-stream",
        Parser = "StanzaFramer.Feed/Next + StanzaParser.ParseHeader/ParseStanza",
        Seeds = () => [SeedFiles.Utf8(Header + string.Concat(Stanzas) + "</stream:stream>"), .. Stanzas.Select(s => SeedFiles.Utf8(Header + s))],
        Dictionary = XmlTokens,
        Expected = e => e is XmppException,
        AllocationPerInputByte = PerStanzaBudget,
        Run = input =>
        {
            foreach (var _ in Frames(input, 64 * 1024, 32))
            {
            }
        },
    };

    public static FuzzTarget Ibb() => new()
    {
        Name = "ibb",
        Parser = "IbbInbox.HandleAsync (XEP-0047 open, data, close)",
        Seeds = () => [SeedFiles.Utf8(Header + string.Concat(IbbSession)), .. IbbSession.Select(s => SeedFiles.Utf8(Header + s))],
        Dictionary = XmlTokens.Concat(SeedFiles.Tokens("http://jabber.org/protocol/ibb", "seq='", "sid='s1'", "block-size='", "====", "AAAA")).ToList(),
        Expected = e => e is XmppException,
        AllocationPerInputByte = PerStanzaBudget,
        Run = input =>
        {
            using var inbox = new IbbInbox();
            var incoming = inbox.Expect("s1", Peer);
            foreach (var stanza in Frames(input, 64 * 1024, 32))
            {
                var pending = inbox.HandleAsync(stanza);
                if (!pending.IsCompleted)
                {
                    throw new InvalidOperationException("IbbInbox.HandleAsync blocked on a block smaller than the pipe's pause threshold.");
                }

                _ = pending.Result;
            }

            incoming.Dispose();
        },
    };

    public static FuzzTarget Jobs() => new()
    {
        Name = "jobs",
        Parser = "JobProtocol.ParseWorker/ParseRun/CheckResults",
        Seeds = () => [SeedFiles.Utf8(Header + string.Concat(JobStanzas)), .. JobStanzas.Select(s => SeedFiles.Utf8(Header + s))],
        Dictionary = XmlTokens.Concat(SeedFiles.Tokens("urn:moat:jobs:0", " id='", " attempt='", " index='", " timeout-ms='", " exit='", " slots='", "<task", "<result")).ToList(),
        Expected = e => e is XmppException or FormatException,
        AllocationPerInputByte = PerStanzaBudget,
        Run = input =>
        {
            foreach (var stanza in Frames(input, 64 * 1024, 32))
            {
                _ = JobProtocol.ParseWorker(Peer, stanza);
                if (stanza.Element(JobProtocol.Ns + "run") is { } run)
                {
                    _ = JobProtocol.ParseRun(run);
                }

                // A manager checks each answer against the batch it sent: a dispatched batch of two tasks here.
                _ = JobProtocol.CheckResults(stanza, AnsweredBatch, 64 * 1024);
            }
        },
    };

    private static readonly IReadOnlyList<TaskAssignment> AnsweredBatch =
        [new TaskAssignment(1, 1, 0, 1, "/bin/true", [], TimeSpan.FromSeconds(1)), new TaskAssignment(2, 1, 1, 1, "/bin/true", [], TimeSpan.FromSeconds(1))];

    /// <summary>Frames the input as a server would (fed in two pieces) and parses each unit, yielding the stanzas.</summary>
    private static IEnumerable<XElement> Frames(byte[] input, int maxStanzaBytes, int maxDepth)
    {
        var framer = new StanzaFramer(maxStanzaBytes, maxDepth);
        int split = input.Length == 0 ? 0 : input[^1] % input.Length;
        foreach (var piece in new[] { input.AsMemory(0, split), input.AsMemory(split) })
        {
            framer.Feed(piece.Span);
            while (framer.Next() is { Kind: not FrameKind.None } frame)
            {
                switch (frame.Kind)
                {
                    case FrameKind.StreamHeader:
                        _ = StanzaParser.ParseHeader(frame.Text);
                        break;
                    case FrameKind.Stanza:
                        yield return StanzaParser.ParseStanza(frame.Text);
                        break;
                    default:
                        yield break;
                }
            }
        }
    }

    private static readonly string[] Stanzas =
    [
        "<message to='a@moat' from='b@moat/r' type='chat' id='m1'><body>hi &amp; bye</body></message>",
        "<presence from='b@moat/r'><show>away</show><priority>5</priority></presence>",
        "<iq type='get' id='p1' to='moat'><ping xmlns='urn:xmpp:ping'/></iq>",
        "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>",
        "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>agent</resource></bind></iq>",
        "  \r\n ",
    ];

    private static readonly string[] IbbSession =
    [
        $"<iq type='set' id='o1' from='{Peer}'><open xmlns='http://jabber.org/protocol/ibb' sid='s1' block-size='4096' stanza='iq'/></iq>",
        $"<iq type='set' id='d0' from='{Peer}'><data xmlns='http://jabber.org/protocol/ibb' sid='s1' seq='0'>{Convert.ToBase64String(Encoding.UTF8.GetBytes("first block of the stream"))}</data></iq>",
        $"<iq type='set' id='d1' from='{Peer}'><data xmlns='http://jabber.org/protocol/ibb' sid='s1' seq='1'>AAECAwQFBgcICQ==</data></iq>",
        $"<iq type='set' id='c1' from='{Peer}'><close xmlns='http://jabber.org/protocol/ibb' sid='s1'/></iq>",
        $"<iq type='set' id='c2' from='{Peer}'><close xmlns='http://jabber.org/protocol/ibb' sid='s1'><abort xmlns='urn:moat:ibb-abort:0'>no space</abort></close></iq>",
        "<iq type='set' id='x1' from='other@moat/x'><open xmlns='http://jabber.org/protocol/ibb' sid='s9' block-size='10'/></iq>",
    ];

    private static readonly string[] JobStanzas =
    [
        "<presence from='w@moat/worker'><worker xmlns='urn:moat:jobs:0' slots='4' labels='gpu,big' memory='2048' cpus='1.5'/></presence>",
        "<iq type='set' id='r1' from='manager@moat/m'><run xmlns='urn:moat:jobs:0'><task id='17' attempt='1' index='3' timeout-ms='60000'><cmd>echo</cmd><arg>a b</arg><arg>c</arg></task><task id='18' attempt='2' index='4' timeout-ms='1'><cmd>true</cmd></task></run></iq>",
        "<iq type='result' id='r1'><results xmlns='urn:moat:jobs:0'><result id='17' attempt='1' exit='0' timed-out='false'>a b c</result><result id='18' attempt='2' exit='-1' timed-out='true'/></results></iq>",
        "<iq type='set' id='c1'><command xmlns='urn:moat:jobs:0'>submit echo hi</command></iq>",
    ];
}
