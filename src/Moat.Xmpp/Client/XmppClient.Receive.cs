using System.Globalization;
using System.Xml.Linq;
using Moat.Xmpp.Xml;

namespace Moat.Xmpp.Client;

public sealed partial class XmppClient
{
    private static readonly XNamespace PingNs = "urn:xmpp:ping";

    private async Task ReceiveLoopAsync(Connection conn, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        while (true)
        {
            var frame = await conn.ReadFrameAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (frame.Kind == FrameKind.StreamEnd)
            {
                throw new XmppDisconnectedException("the server closed the stream");
            }

            if (frame.Kind != FrameKind.Stanza)
            {
                throw new XmppStreamException("invalid-xml", "a second stream header arrived");
            }

            var element = StanzaParser.ParseStanza(frame.Text);
            Dispatch(conn, element);
        }
    }

    private void Dispatch(Connection conn, XElement element)
    {
        var ns = element.Name.Namespace;
        if (ns == ClientNs)
        {
            if (conn.CountStanzas)
            {
                conn.InboundHandled++;
            }

            switch (element.Name.LocalName)
            {
                case "message":
                    MessageReceived?.Invoke(element);
                    return;
                case "presence":
                    PresenceReceived?.Invoke(element);
                    return;
                case "iq":
                    HandleIq(element);
                    return;
            }

            return;
        }

        if (ns == SmNs)
        {
            if (element.Name.LocalName == "r")
            {
                conn.Outbox.Writer.TryWrite(
                    "<a xmlns='urn:xmpp:sm:3' h='" + (conn.InboundHandled & 0xFFFFFFFF).ToString(CultureInfo.InvariantCulture) + "'/>");
            }

            return;
        }

        if (element.Name == StreamNs + "error")
        {
            throw new XmppDisconnectedException($"the server sent a stream error: {element.Elements().FirstOrDefault()?.Name.LocalName ?? "unknown"}");
        }
    }
}
