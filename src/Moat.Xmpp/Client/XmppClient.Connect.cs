using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Xml.Linq;
using Moat.Xmpp.Sasl;
using Moat.Xmpp.Xml;

namespace Moat.Xmpp.Client;

public sealed partial class XmppClient
{
    private static readonly XNamespace TlsNs = "urn:ietf:params:xml:ns:xmpp-tls";
    private static readonly XNamespace SaslNs = "urn:ietf:params:xml:ns:xmpp-sasl";
    private static readonly XNamespace BindNs = "urn:ietf:params:xml:ns:xmpp-bind";
    private static readonly XNamespace SessionNs = "urn:ietf:params:xml:ns:xmpp-session";
    private static readonly XNamespace SmNs = "urn:xmpp:sm:3";

    /// <summary>Connects, authenticates and binds; afterwards the client keeps itself connected until disposed.</summary>
    public async Task ConnectAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref disposed) != 0, this);
        if (supervisor is not null)
        {
            throw new InvalidOperationException($"{AccountJid} is already connected or connecting.");
        }

        var first = await OpenAsync(cancellationToken).ConfigureAwait(false);
        supervisor = Task.Run(() => SuperviseAsync(first, lifetime.Token), CancellationToken.None);
    }

    private async Task<Connection> OpenAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.Token);
        timeout.CancelAfter(options.ConnectTimeout);
        var ct = timeout.Token;
        var tcp = new TcpClient { NoDelay = true };
        Connection? conn = null;
        try
        {
            await tcp.ConnectAsync(options.Host ?? AccountJid.Domain, options.Port, ct).ConfigureAwait(false);
            conn = new Connection(tcp, tcp.GetStream(), new StanzaFramer(options.MaxStanzaBytes, options.MaxDepth));
            var buffer = new byte[16 * 1024];
            var features = await OpenStreamAsync(conn, buffer, ct).ConfigureAwait(false);
            bool encrypted = false;

            if (features.Element(TlsNs + "starttls") is not null && options.Tls != TlsMode.Disabled)
            {
                await conn.WriteDirectAsync("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", ct).ConfigureAwait(false);
                var answer = await ReadElementAsync(conn, buffer, ct).ConfigureAwait(false);
                if (answer.Name != TlsNs + "proceed")
                {
                    throw new XmppException($"the server refused STARTTLS with <{answer.Name.LocalName}/>.");
                }

                var ssl = new SslStream(conn.Stream, leaveInnerStreamOpen: false);
                await ssl.AuthenticateAsClientAsync(
                    new SslClientAuthenticationOptions
                    {
                        TargetHost = AccountJid.Domain,
                        RemoteCertificateValidationCallback = options.CertificateValidation,
                    },
                    ct).ConfigureAwait(false);
                conn.Stream = ssl;
                conn.Framer.Reset();
                features = await OpenStreamAsync(conn, buffer, ct).ConfigureAwait(false);
                encrypted = true;
            }
            else if (options.Tls == TlsMode.Required)
            {
                throw new XmppException($"{options.Host ?? AccountJid.Domain}:{options.Port} does not offer STARTTLS and the options require TLS.");
            }

            Mechanism = await AuthenticateAsync(conn, features, encrypted, buffer, ct).ConfigureAwait(false);
            conn.Framer.Reset();
            features = await OpenStreamAsync(conn, buffer, ct).ConfigureAwait(false);
            BoundJid = await BindAsync(conn, features, buffer, ct).ConfigureAwait(false);
            IsEncrypted = encrypted;

            StreamManagementEnabled = false;
            if (options.StreamManagement && features.Element(SmNs + "sm") is not null)
            {
                await conn.WriteDirectAsync("<enable xmlns='urn:xmpp:sm:3'/>", ct).ConfigureAwait(false);
                var answer = await ReadElementAsync(conn, buffer, ct).ConfigureAwait(false);
                StreamManagementEnabled = answer.Name == SmNs + "enabled";
                conn.CountStanzas = StreamManagementEnabled;
            }

            if (options.SendInitialPresence)
            {
                // Written before ConnectAsync returns, so that peers told "I am up" find this client available.
                await conn.WriteDirectAsync("<presence/>", ct).ConfigureAwait(false);
                conn.CountOutbound();
            }

            conn.Writer = Task.Run(() => conn.WriteLoopAsync(lifetime.Token), CancellationToken.None);
            connection = conn;

            return conn;
        }
        catch
        {
            if (conn is not null)
            {
                conn.Abort();
            }
            else
            {
                tcp.Dispose();
            }

            throw;
        }
    }

    private async Task<XElement> OpenStreamAsync(Connection conn, byte[] buffer, CancellationToken ct)
    {
        await conn.WriteDirectAsync(
            $"<?xml version='1.0'?><stream:stream to='{AccountJid.Domain}' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
            ct).ConfigureAwait(false);
        var header = await conn.ReadFrameAsync(buffer, ct).ConfigureAwait(false);
        if (header.Kind != FrameKind.StreamHeader)
        {
            throw new XmppStreamException("invalid-namespace", "the server did not open a stream");
        }

        var features = await ReadElementAsync(conn, buffer, ct).ConfigureAwait(false);
        if (features.Name != StreamNs + "features")
        {
            throw new XmppStreamException("invalid-xml", $"expected stream features, got <{features.Name.LocalName}/>");
        }

        return features;
    }

    private static async Task<XElement> ReadElementAsync(Connection conn, byte[] buffer, CancellationToken ct)
    {
        var frame = await conn.ReadFrameAsync(buffer, ct).ConfigureAwait(false);
        if (frame.Kind != FrameKind.Stanza)
        {
            throw new XmppDisconnectedException("the server closed the stream during negotiation");
        }

        var element = StanzaParser.ParseStanza(frame.Text);
        if (element.Name == StreamNs + "error")
        {
            throw new XmppException($"the server sent a stream error: {element.Elements().FirstOrDefault()?.Name.LocalName ?? "unknown"}.");
        }

        return element;
    }

    private async Task<string> AuthenticateAsync(Connection conn, XElement features, bool encrypted, byte[] buffer, CancellationToken ct)
    {
        var offered = features.Element(SaslNs + "mechanisms")?.Elements(SaslNs + "mechanism").Select(m => m.Value).ToHashSet()
            ?? throw new XmppAuthenticationException("the server offered no SASL mechanisms.");
        bool plainAllowed = encrypted || options.AllowPlainWithoutTls;
        string? chosen = options.Mechanisms.FirstOrDefault(m => offered.Contains(m) && (m != "PLAIN" || plainAllowed));
        string user = AccountJid.Local!;
        ISaslMechanism mechanism = chosen switch
        {
            "SCRAM-SHA-256" => new ScramMechanism(HashAlgorithmName.SHA256, user, options.Password, ScramMechanism.NewNonce()),
            "SCRAM-SHA-1" => new ScramMechanism(HashAlgorithmName.SHA1, user, options.Password, ScramMechanism.NewNonce()),
            "PLAIN" => new PlainMechanism(user, options.Password),
            _ => throw new XmppAuthenticationException(
                $"none of the mechanisms {string.Join(", ", options.Mechanisms)} is offered and allowed (server offers {string.Join(", ", offered)}; PLAIN needs TLS or AllowPlainWithoutTls)."),
        };

        await conn.WriteDirectAsync(
            $"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='{mechanism.Name}'>{Convert.ToBase64String(mechanism.InitialResponse())}</auth>",
            ct).ConfigureAwait(false);
        while (true)
        {
            var answer = await ReadElementAsync(conn, buffer, ct).ConfigureAwait(false);
            if (answer.Name == SaslNs + "challenge")
            {
                var response = mechanism.Respond(Decode(answer.Value));
                if (response is null)
                {
                    await conn.WriteDirectAsync("<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>", ct).ConfigureAwait(false);
                    throw new XmppAuthenticationException($"the server's {mechanism.Name} challenge was malformed.");
                }

                await conn.WriteDirectAsync(
                    $"<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{Convert.ToBase64String(response)}</response>", ct).ConfigureAwait(false);
            }
            else if (answer.Name == SaslNs + "success")
            {
                if (!mechanism.VerifySuccess(Decode(answer.Value)))
                {
                    throw new XmppAuthenticationException($"the server's {mechanism.Name} signature did not verify; it may not know the password.");
                }

                return mechanism.Name;
            }
            else
            {
                string condition = answer.Elements().FirstOrDefault()?.Name.LocalName ?? "unknown";
                throw new XmppAuthenticationException($"authentication of {AccountJid} with {mechanism.Name} failed: {condition}.");
            }
        }
    }

    private static byte[] Decode(string base64)
    {
        try
        {
            return base64 is "" or "=" ? [] : Convert.FromBase64String(base64);
        }
        catch (FormatException)
        {
            throw new XmppAuthenticationException("the server sent SASL data that is not base64.");
        }
    }

    private async Task<Jid> BindAsync(Connection conn, XElement features, byte[] buffer, CancellationToken ct)
    {
        if (features.Element(BindNs + "bind") is null)
        {
            throw new XmppException("the server did not offer resource binding.");
        }

        var bind = new XElement(BindNs + "bind");
        if (options.Resource is not null)
        {
            bind.Add(new XElement(BindNs + "resource", options.Resource));
        }

        var iq = new XElement(ClientNs + "iq", new XAttribute("type", "set"), new XAttribute("id", "bind"), bind);
        await conn.WriteDirectAsync(iq.ToString(SaveOptions.DisableFormatting), ct).ConfigureAwait(false);
        var answer = await ReadElementAsync(conn, buffer, ct).ConfigureAwait(false);
        string? jid = answer.Element(BindNs + "bind")?.Element(BindNs + "jid")?.Value;
        if (answer.Attribute("type")?.Value != "result" || jid is null)
        {
            throw new XmppException($"binding resource '{options.Resource}' failed: {answer.Element(ClientNs + "error")?.Elements().FirstOrDefault()?.Name.LocalName ?? "no JID returned"}.");
        }

        var session = features.Element(SessionNs + "session");
        if (session is not null && session.Element(SessionNs + "optional") is null)
        {
            await conn.WriteDirectAsync("<iq type='set' id='sess'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>", ct).ConfigureAwait(false);
            await ReadElementAsync(conn, buffer, ct).ConfigureAwait(false);
        }

        return Jid.Parse(jid);
    }
}
