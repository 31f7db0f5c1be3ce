using System.Xml;
using System.Xml.Linq;

namespace Moat.Xmpp.Xml;

/// <summary>Turns framed stanza text into <see cref="XElement"/>s with the stream's namespaces and no DTD or entity processing.</summary>
internal static class StanzaParser
{
    public const string ClientNs = "jabber:client";
    public const string StreamNs = "http://etherx.jabber.org/streams";

    private static readonly XmlReaderSettings Settings = new()
    {
        DtdProcessing = DtdProcessing.Prohibit,
        XmlResolver = null,
        MaxCharactersFromEntities = 0,
        ConformanceLevel = ConformanceLevel.Fragment,
        IgnoreProcessingInstructions = false,
        CloseInput = true,
    };

    public static XElement ParseStanza(string text)
    {
        var names = new XmlNamespaceManager(new NameTable());
        names.AddNamespace(string.Empty, ClientNs);
        names.AddNamespace("stream", StreamNs);
        var context = new XmlParserContext(null, names, null, XmlSpace.None);
        try
        {
            using var reader = XmlReader.Create(new StringReader(text), Settings, context);
            reader.MoveToContent();
            return (XElement)XNode.ReadFrom(reader);
        }
        catch (XmlException e)
        {
            throw new XmppStreamException("not-well-formed", e.Message);
        }
    }

    /// <summary>Parses the opening &lt;stream:stream&gt; tag by closing it artificially.</summary>
    public static XElement ParseHeader(string text) => ParseStanza(text + "</stream:stream>");
}
