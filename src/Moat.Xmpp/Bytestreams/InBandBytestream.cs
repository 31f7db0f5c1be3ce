using System.Globalization;
using System.Xml.Linq;
using Moat.Xmpp.Client;

namespace Moat.Xmpp.Bytestreams;

/// <summary>
/// XEP-0047 In-Band Bytestreams, sending side: a byte stream carried to another entity as base64 blocks in IQs (never
/// messages), each block acknowledged before the next is sent, so the receiver's pace is the sender's. It needs nothing
/// but the XMPP session both ends already have, so it crosses NAT the way the session does.
/// </summary>
/// <remarks>
/// One extension, in its own namespace as XMPP allows: a sender that fails half-way (its source broke) closes the
/// stream with <c>&lt;abort xmlns='urn:moat:ibb-abort:0'&gt;reason&lt;/abort&gt;</c> inside the close, so the receiver can
/// tell a cut stream from a complete one (plain XEP-0047 cannot). Receivers that do not know it see a close.
/// </remarks>
public static class InBandBytestream
{
    public static readonly XNamespace Ns = "http://jabber.org/protocol/ibb";

    /// <summary>Moat's extension: a close that carries this element ends the stream as failed.</summary>
    public static readonly XNamespace AbortNs = "urn:moat:ibb-abort:0";

    /// <summary>32 KiB: 44 kB of base64 per IQ, under every server's default stanza limit (Prosody, ejabberd: 256 kB).</summary>
    public const int DefaultBlockSize = 32 * 1024;

    /// <summary>XEP-0047's largest block (block-size is an unsigned 16-bit number).</summary>
    public const int MaxBlockSize = 65535;

    /// <summary>How long one block may wait for its acknowledgement before the stream is given up.</summary>
    public static readonly TimeSpan DefaultBlockTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Sends everything <paramref name="source"/> yields to <paramref name="to"/> as stream <paramref name="sid"/>: open,
    /// one data IQ per block (each acknowledged), close. Returns the bytes sent.
    /// </summary>
    /// <exception cref="IbbException">The receiver refused the stream or a block, or did not answer in time; or the
    /// source failed (the stream is then closed with an abort so the receiver does not take it as complete).</exception>
    public static async Task<long> SendAsync(XmppClient client, string to, string sid, Stream source, int blockSize = DefaultBlockSize,
        TimeSpan? blockTimeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(blockSize, MaxBlockSize);
        ValidateSid(sid);
        var timeout = blockTimeout ?? DefaultBlockTimeout;
        await RequestAsync(client, to, new XElement(Ns + "open", new XAttribute("block-size", blockSize), new XAttribute("sid", sid), new XAttribute("stanza", "iq")),
            "open the stream", timeout, cancellationToken).ConfigureAwait(false);

        var buffer = new byte[blockSize];
        ushort seq = 0;
        long total = 0;
        try
        {
            while (true)
            {
                int n = await source.ReadAtLeastAsync(buffer, blockSize, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    break;
                }

                var data = new XElement(Ns + "data", new XAttribute("seq", seq), new XAttribute("sid", sid), Convert.ToBase64String(buffer, 0, n));
                await RequestAsync(client, to, data, $"take block {seq}", timeout, cancellationToken).ConfigureAwait(false);
                seq = unchecked((ushort)(seq + 1));
                total += n;
                if (n < blockSize)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is not IbbException)
        {
            await AbortQuietlyAsync(client, to, sid, e.Message).ConfigureAwait(false);
            throw new IbbException($"stream {sid} to {to} failed after {total:N0} bytes: {e.Message}", e);
        }

        await RequestAsync(client, to, new XElement(Ns + "close", new XAttribute("sid", sid)), "close the stream", timeout, cancellationToken).ConfigureAwait(false);
        return total;
    }

    /// <summary>A stream id: 1–64 characters from [A-Za-z0-9._-].</summary>
    public static void ValidateSid(string sid)
    {
        if (string.IsNullOrEmpty(sid) || sid.Length > 64 || !sid.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
        {
            throw new ArgumentException($"'{sid}' is not a valid stream id: use 1-64 letters, digits, '.', '-' or '_'.", nameof(sid));
        }
    }

    private static async Task RequestAsync(XmppClient client, string to, XElement payload, string what, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var iq = new XElement(XmppClient.ClientNs + "iq", new XAttribute("type", "set"), new XAttribute("to", to), payload);
        try
        {
            await client.IqAsync(iq, timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (XmppIqErrorException e)
        {
            XNamespace stanzas = "urn:ietf:params:xml:ns:xmpp-stanzas";
            var error = e.Stanza.Element(XmppClient.ClientNs + "error");
            var condition = error?.Elements().FirstOrDefault(x => x.Name.Namespace == stanzas && x.Name.LocalName != "text")?.Name.LocalName;
            var text = error?.Element(stanzas + "text")?.Value ?? condition ?? "refused";
            throw new IbbException($"{to} would not {what} of stream {payload.Attribute("sid")?.Value}: {text}", e) { Condition = condition };
        }
        catch (TimeoutException e)
        {
            throw new IbbException($"{to} did not {what} of stream {payload.Attribute("sid")?.Value} within {timeout.TotalSeconds.ToString("0", CultureInfo.InvariantCulture)} s.", e);
        }
        catch (XmppException e)
        {
            throw new IbbException($"could not ask {to} to {what}: {e.Message}", e);
        }
    }

    private static async Task AbortQuietlyAsync(XmppClient client, string to, string sid, string reason)
    {
        var close = new XElement(Ns + "close", new XAttribute("sid", sid), new XElement(AbortNs + "abort", reason));
        try
        {
            await client.SendAsync(new XElement(XmppClient.ClientNs + "iq", new XAttribute("type", "set"), new XAttribute("to", to),
                new XAttribute("id", client.NewId()), close)).ConfigureAwait(false);
        }
        catch (XmppException)
        {
            // Disconnected: the receiver's idle timeout ends the stream as failed.
        }
    }
}

/// <summary>An in-band bytestream failed; the message says which stream, with whom, and why.</summary>
public sealed class IbbException(string message, Exception? inner = null) : XmppException(message, inner!)
{
    /// <summary>The receiver's stanza error condition when it refused a block (not-acceptable, item-not-found,
    /// unexpected-request, bad-request, …); null when the stream failed otherwise (source, timeout, disconnect).</summary>
    public string? Condition { get; init; }
}
