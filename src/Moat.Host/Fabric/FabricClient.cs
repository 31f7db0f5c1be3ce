using System.Collections.Concurrent;
using System.Text.Json;
using System.Xml.Linq;
using Moat.Host.Api;
using Moat.Host.Client;
using Moat.Host.Runtime;
using Moat.Host.Sandboxes;
using Moat.Xmpp.Bytestreams;
using Moat.Xmpp.Client;

namespace Moat.Host.Fabric;

/// <summary>
/// The control plane's side of the host protocol: sees hosts through their presence and sends them sandbox operations
/// as IQs, so a host behind NAT is driven exactly like a local one.
/// </summary>
public sealed class FabricClient : IAsyncDisposable
{
    private readonly XmppClient client;
    private readonly ConcurrentDictionary<string, FabricProtocol.HostPresence> hosts = new(StringComparer.OrdinalIgnoreCase);

    public FabricClient(XmppClientOptions options)
    {
        client = new XmppClient(options);
        client.PresenceReceived += OnPresence;
        client.IqHandler = Inbox.HandleAsync;
    }

    public XmppClient Xmpp => client;

    /// <summary>Streams (XEP-0047) this control plane expects from hosts, such as a sandbox's exported state.</summary>
    public IbbInbox Inbox { get; } = new();

    /// <summary>Hosts whose presence was seen, keyed by full JID; unavailable ones are dropped.</summary>
    public IReadOnlyCollection<FabricProtocol.HostPresence> Hosts => hosts.Values.Where(h => h.Available).ToList();

    /// <summary>A host's presence arrived or changed.</summary>
    public event Action<FabricProtocol.HostPresence>? HostChanged;

    public Task ConnectAsync(CancellationToken cancellationToken = default) => client.ConnectAsync(cancellationToken);

    /// <summary>A control-plane session on the fabric as <paramref name="jid"/> via <paramref name="server"/> (host:port),
    /// connected; <paramref name="resource"/> names the session when several of one account run at once.</summary>
    public static async Task<FabricClient> OpenAsync(string jid, string server, string password, string? resource = null, CancellationToken cancellationToken = default)
    {
        var (host, port) = FabricOptions.ParseServer(server);
        var options = FabricOptions.ClientOptions(jid, host, port, password);
        var fabric = new FabricClient(resource is null ? options : options with { Resource = resource });
        try
        {
            await fabric.ConnectAsync(cancellationToken).ConfigureAwait(false);
            return fabric;
        }
        catch
        {
            await fabric.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Asks to see a host's presence (a subscription the host grants to allow-listed JIDs, kept by the server).</summary>
    public ValueTask WatchAsync(string hostBareJid, CancellationToken cancellationToken = default) =>
        client.SendSubscriptionAsync(hostBareJid, "subscribe", cancellationToken);

    public async Task<ClaimResponse> ClaimAsync(string host, SandboxSpec spec, CancellationToken cancellationToken = default) =>
        await CallAsync<ClaimResponse>(host, "claim", null, spec, cancellationToken).ConfigureAwait(false);

    public async Task<Sandbox> CreateAsync(string host, SandboxSpec spec, CancellationToken cancellationToken = default) =>
        await CallAsync<Sandbox>(host, "create", null, spec, cancellationToken).ConfigureAwait(false);

    public async Task<ExecResult> ExecAsync(string host, string reference, IReadOnlyList<string> command, double timeoutSeconds = 60, CancellationToken cancellationToken = default) =>
        await CallAsync<ExecResult>(host, "exec", reference, new FabricProtocol.ExecBody(command, null, timeoutSeconds), cancellationToken,
            TimeSpan.FromSeconds(timeoutSeconds + 30)).ConfigureAwait(false);

    public async Task<List<Sandbox>> ListAsync(string host, CancellationToken cancellationToken = default) =>
        await CallAsync<List<Sandbox>>(host, "ls", null, null, cancellationToken).ConfigureAwait(false);

    public async Task<JsonElement> InspectAsync(string host, string reference, CancellationToken cancellationToken = default) =>
        await CallAsync<JsonElement>(host, "inspect", reference, null, cancellationToken).ConfigureAwait(false);

    public async Task<JsonElement> StatusAsync(string host, CancellationToken cancellationToken = default) =>
        await CallAsync<JsonElement>(host, "status", null, null, cancellationToken).ConfigureAwait(false);

    public async Task DestroyAsync(string host, string reference, CancellationToken cancellationToken = default) =>
        await CallAsync<JsonElement?>(host, "rm", reference, null, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Sends one operation and returns the host's JSON answer. A refusal by the host is a <see cref="FabricCallException"/>
    /// carrying the host's sentence.
    /// </summary>
    public async Task<T> CallAsync<T>(string host, string op, string? reference, object? body, CancellationToken cancellationToken = default, TimeSpan? timeout = null)
    {
        XElement answer;
        try
        {
            answer = await client.IqAsync(FabricProtocol.Request(FullJid(host), op, reference, body), timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (XmppIqErrorException e)
        {
            XNamespace stanzas = "urn:ietf:params:xml:ns:xmpp-stanzas";
            var error = e.Stanza.Element(FabricProtocol.Client + "error");
            var condition = error?.Elements().FirstOrDefault(x => x.Name.Namespace == stanzas && x.Name.LocalName != "text")?.Name.LocalName ?? "unknown";
            var text = error?.Element(stanzas + "text")?.Value;
            throw new FabricCallException(condition, text ?? (condition == "service-unavailable"
                ? $"{host} is not online on the fabric (or does not answer host operations)."
                : $"{host} refused '{op}': {condition}."));
        }

        var payload = answer.Element(FabricProtocol.Ns + "sandbox")?.Value;
        return string.IsNullOrEmpty(payload) ? default! : JsonSerializer.Deserialize<T>(payload, HostClient.Json)!;
    }

    /// <summary>The JID a request goes to: the host's bound resource when its presence was seen, else the default one.</summary>
    public string FullJid(string host)
    {
        var jid = Jid.Parse(host);
        if (jid.Resource is not null)
        {
            return host;
        }

        var seen = hosts.Values.FirstOrDefault(h => h.Available && string.Equals(Jid.Parse(h.Jid).Bare.ToString(), jid.ToString(), StringComparison.OrdinalIgnoreCase));
        return seen?.Jid ?? $"{jid}/{FabricProtocol.DefaultResource}";
    }

    public async ValueTask DisposeAsync()
    {
        await client.DisposeAsync().ConfigureAwait(false);
        Inbox.Dispose();
    }

    private void OnPresence(XElement presence)
    {
        var h = FabricProtocol.ParsePresence(presence);
        if (h is null)
        {
            return;
        }

        if (h.Available)
        {
            hosts[h.Jid] = h;
        }
        else
        {
            hosts.TryRemove(h.Jid, out _);
        }

        HostChanged?.Invoke(h);
    }
}

/// <summary>A host refused or could not perform an operation; the message is its one sentence.</summary>
public sealed class FabricCallException(string condition, string message) : Moat.Xmpp.XmppException(KindOfCondition(condition), message)
{
    /// <summary>The stanza error condition (forbidden, item-not-found, bad-request, resource-constraint, …).</summary>
    public string Condition { get; } = condition;
}
