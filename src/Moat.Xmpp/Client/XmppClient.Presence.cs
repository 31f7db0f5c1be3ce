using System.Xml.Linq;

namespace Moat.Xmpp.Client;

/// <summary>One roster entry (RFC 6121 §2.1.2).</summary>
public sealed record RosterItem(string Jid, string Subscription, string? Name)
{
    /// <summary>The roster groups the item is filed under (RFC 6121 §2.1.2.5).</summary>
    public IReadOnlyList<string> Groups { get; init; } = [];
}

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

    /// <summary>True for a roster push (RFC 6121 §2.1.6): a set of jabber:iq:roster from our own account or the server.</summary>
    public bool IsRosterPush(XElement iq)
    {
        ArgumentNullException.ThrowIfNull(iq);
        string? from = iq.Attribute("from")?.Value;
        return iq.Attribute("type")?.Value == "set" && iq.Element(RosterNs + "query") is not null
            && (from is null || from == AccountJid.ToString() || from == AccountJid.Domain);
    }

    public async Task<IReadOnlyList<RosterItem>> GetRosterAsync(CancellationToken cancellationToken = default)
    {
        var answer = await IqAsync(new XElement(ClientNs + "iq", new XAttribute("type", "get"), new XElement(RosterNs + "query")), cancellationToken: cancellationToken).ConfigureAwait(false);
        return answer.Element(RosterNs + "query")?.Elements(RosterNs + "item")
            .Select(i => new RosterItem(i.Attribute("jid")?.Value ?? string.Empty, i.Attribute("subscription")?.Value ?? "none", i.Attribute("name")?.Value)
            {
                Groups = i.Elements(RosterNs + "group").Select(g => g.Value).ToList(),
            })
            .ToList() ?? [];
    }

    public Task SetRosterItemAsync(string jid, string? name = null, CancellationToken cancellationToken = default) =>
        SetRosterItemAsync(jid, name, [], cancellationToken);

    /// <summary>Adds or changes a roster item filed under <paramref name="groups"/> (RFC 6121 §2.1.2.5).</summary>
    public Task SetRosterItemAsync(string jid, string? name, IReadOnlyList<string> groups, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(groups);
        var item = new XElement(RosterNs + "item", new XAttribute("jid", Jid.Parse(jid).Bare.ToString()));
        if (name is not null)
        {
            item.SetAttributeValue("name", name);
        }

        foreach (var group in groups)
        {
            item.Add(new XElement(RosterNs + "group", group));
        }

        return IqAsync(new XElement(ClientNs + "iq", new XAttribute("type", "set"), new XElement(RosterNs + "query", item)), cancellationToken: cancellationToken);
    }
}
