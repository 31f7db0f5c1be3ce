using System.Xml.Linq;

namespace Moat.Xmpp.Client;

/// <summary>The server or peer answered an IQ with type='error'.</summary>
public sealed class XmppIqErrorException(XElement error)
    : XmppException(KindOfCondition(ConditionOf(error)), $"the IQ failed: {ConditionOf(error) ?? "unknown error"}.")
{
    public XElement Stanza { get; } = error;

    private static string? ConditionOf(XElement error) => error.Element(XmppClient.ClientNs + "error")?.Elements().FirstOrDefault()?.Name.LocalName;
}

public sealed partial class XmppClient
{
    private long failedRequests;

    /// <summary>Requests whose handler failed with something other than an <see cref="XmppException"/> (each was answered
    /// internal-server-error); a number to report beside a component's other statistics.</summary>
    public long FailedRequests => Interlocked.Read(ref failedRequests);

    /// <summary>An IQ waiting for its answer, and whom the answer must come from.</summary>
    private sealed record PendingIq(string? To, TaskCompletionSource<XElement> Answer);

    /// <summary>Sends an IQ get/set (an id is added when missing) and waits for its result; errors and timeouts throw.</summary>
    public async Task<XElement> IqAsync(XElement iq, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(iq);
        string id = iq.Attribute("id")?.Value ?? NewId();
        iq.SetAttributeValue("id", id);
        var waiter = new TaskCompletionSource<XElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!pendingIqs.TryAdd(id, new PendingIq(iq.Attribute("to")?.Value, waiter)))
        {
            throw new ArgumentException($"an IQ with id '{id}' is already waiting for its answer; ids must be unique.", nameof(iq));
        }

        try
        {
            await SendAsync(iq, cancellationToken).ConfigureAwait(false);
            var answer = await waiter.Task.WaitAsync(timeout ?? options.IqTimeout, options.TimeProvider, cancellationToken).ConfigureAwait(false);
            if (answer.Attribute("type")?.Value == "error")
            {
                throw new XmppIqErrorException(answer);
            }

            return answer;
        }
        finally
        {
            pendingIqs.TryRemove(id, out _);
        }
    }

    /// <summary>XEP-0199 ping to a JID (the server when null); returns when answered.</summary>
    public Task PingAsync(string? to = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var iq = new XElement(ClientNs + "iq", new XAttribute("type", "get"), new XAttribute("to", to ?? AccountJid.Domain),
            new XElement(PingNs + "ping"));
        return IqAsync(iq, timeout, cancellationToken);
    }

    /// <summary>Builds the result answering a request.</summary>
    public static XElement ResultFor(XElement request, params object[] content) =>
        new(ClientNs + "iq", new XAttribute("type", "result"), new XAttribute("id", request.Attribute("id")?.Value ?? string.Empty),
            new XAttribute("to", request.Attribute("from")?.Value ?? string.Empty), content);

    /// <summary>Builds an error answer with a stanza error condition (RFC 6120 §8.3.3).</summary>
    public static XElement ErrorFor(XElement request, string type, string condition, string? text = null)
    {
        XNamespace stanzas = "urn:ietf:params:xml:ns:xmpp-stanzas";
        var error = new XElement(ClientNs + "error", new XAttribute("type", type), new XElement(stanzas + condition));
        if (text is not null)
        {
            error.Add(new XElement(stanzas + "text", text));
        }

        return new XElement(ClientNs + "iq", new XAttribute("type", "error"), new XAttribute("id", request.Attribute("id")?.Value ?? string.Empty),
            new XAttribute("to", request.Attribute("from")?.Value ?? string.Empty), error);
    }

    private void HandleIq(XElement iq)
    {
        string? type = iq.Attribute("type")?.Value;
        string? id = iq.Attribute("id")?.Value;
        if (type is "result" or "error")
        {
            // RFC 6120 §10.1: an answer counts only if it comes from the entity the request was sent to;
            // otherwise anyone who guesses an id could complete (or fail) our requests.
            if (id is not null && pendingIqs.TryGetValue(id, out var waiter) && IsFromAddressee(waiter.To, iq.Attribute("from")?.Value)
                && pendingIqs.TryRemove(id, out _))
            {
                waiter.Answer.TrySetResult(iq);
            }

            return;
        }

        if (type is not ("get" or "set"))
        {
            return;
        }

        if (iq.Element(PingNs + "ping") is not null)
        {
            _ = SendQuietlyAsync(ResultFor(iq));
            return;
        }

        _ = AnswerIqAsync(iq);
    }

    private bool IsFromAddressee(string? to, string? from)
    {
        try
        {
            return IsFromAddresseeUnchecked(to, from);
        }
        catch (FormatException)
        {
            return false;
        }
    }

    private bool IsFromAddresseeUnchecked(string? to, string? from)
    {
        if (from is null)
        {
            // The server answers requests to itself or to our own account without a from.
            return to is null || to == AccountJid.Domain || Jid.Parse(to).Bare == AccountJid;
        }

        if (to is null)
        {
            return from == AccountJid.Domain || Jid.Parse(from).Bare == AccountJid;
        }

        return string.Equals(Jid.Parse(from).ToString(), Jid.Parse(to).ToString(), StringComparison.Ordinal);
    }

    private async Task AnswerIqAsync(XElement iq)
    {
        XElement? answer;
        var handler = IqHandler;
        try
        {
            answer = handler is null ? null : await handler(iq).ConfigureAwait(false);
        }
        catch (XmppException e)
        {
            answer = ErrorFor(iq, "wait", "internal-server-error", e.Message);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Every request gets an answer, or the requester waits out its timeout for nothing. What went wrong stays
            // here: an exception's message and stack can name files and internals the requester has no business seeing.
            Interlocked.Increment(ref failedRequests);
            answer = ErrorFor(iq, "wait", "internal-server-error", $"the request could not be handled by {BoundJid?.ToString() ?? AccountJid.ToString()}.");
        }

        await SendQuietlyAsync(answer ?? ErrorFor(iq, "cancel", "service-unavailable")).ConfigureAwait(false);
    }

    private async Task SendQuietlyAsync(XElement stanza)
    {
        try
        {
            await SendAsync(stanza).ConfigureAwait(false);
        }
        catch (XmppDisconnectedException)
        {
            // The requester sees the connection drop (its presence goes unavailable) and retries elsewhere.
        }
    }
}
