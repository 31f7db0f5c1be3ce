using System.Xml.Linq;

namespace Moat.Xmpp.Client;

/// <summary>One roster entry (RFC 6121 §2.1.2).</summary>
public sealed record RosterItem(string Jid, string Subscription, string? Name);

public sealed partial class XmppClient
{
    private static readonly XNamespace RosterNs = "jabber:iq:roster";

    /// <summary>Broadcasts available presence with optional status text and extension payload.</summary>
    public ValueTask SendPresenceAsync(string? status = null, XElement? payload = null, CancellationToken cancellationToken = default)
    {
        var presence = new XElement(ClientNs + "presence");
        if (status is not null)
        {
            presence.Add(new XElement(ClientNs + "status", status));
        }

        if (payload is not null)
        {
            presence.Add(payload);
        }

        return SendAsync(presence, cancellationToken);
    }

    /// <summary>Broadcasts unavailable presence (the connection stays open).</summary>
    public ValueTask SendUnavailableAsync(CancellationToken cancellationToken = default) =>
        SendAsync(new XElement(ClientNs + "presence", new XAttribute("type", "unavailable")), cancellationToken);

    /// <summary>Sends a presence subscription verb: subscribe, subscribed, unsubscribe, unsubscribed.</summary>
    public ValueTask SendSubscriptionAsync(string to, string type, CancellationToken cancellationToken = default) =>
        SendAsync(new XElement(ClientNs + "presence", new XAttribute("to", Jid.Parse(to).Bare.ToString()), new XAttribute("type", type)), cancellationToken);

    /// <summary>Sends a chat message.</summary>
    public ValueTask SendMessageAsync(string to, string body, CancellationToken cancellationToken = default) =>
        SendAsync(new XElement(ClientNs + "message", new XAttribute("to", to), new XAttribute("type", "chat"), new XElement(ClientNs + "body", body)), cancellationToken);

    public async Task<IReadOnlyList<RosterItem>> GetRosterAsync(CancellationToken cancellationToken = default)
    {
        var answer = await IqAsync(new XElement(ClientNs + "iq", new XAttribute("type", "get"), new XElement(RosterNs + "query")), cancellationToken: cancellationToken).ConfigureAwait(false);
        return answer.Element(RosterNs + "query")?.Elements(RosterNs + "item")
            .Select(i => new RosterItem(i.Attribute("jid")?.Value ?? string.Empty, i.Attribute("subscription")?.Value ?? "none", i.Attribute("name")?.Value))
            .ToList() ?? [];
    }

    public Task SetRosterItemAsync(string jid, string? name = null, CancellationToken cancellationToken = default)
    {
        var item = new XElement(RosterNs + "item", new XAttribute("jid", Jid.Parse(jid).Bare.ToString()));
        if (name is not null)
        {
            item.SetAttributeValue("name", name);
        }

        return IqAsync(new XElement(ClientNs + "iq", new XAttribute("type", "set"), new XElement(RosterNs + "query", item)), cancellationToken: cancellationToken);
    }
}
