using System.Text.Json;
using System.Xml.Linq;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Moat.Host.Agent;
using Moat.Host.Client;
using Moat.Host.Pool;
using Moat.Host.Sandboxes;
using Moat.Xmpp;
using Moat.Xmpp.Client;

namespace Moat.Host.Fabric;

/// <summary>
/// The host agent's seat on the XMPP fabric: keeps one session to the server (dialing out, so hosts behind NAT join),
/// publishes the host's status as presence, and answers sandbox operations sent as IQs by allow-listed JIDs.
/// </summary>
public sealed partial class FabricAgent : BackgroundService
{
    private readonly FabricOptions options;
    private readonly SandboxService sandboxes;
    private readonly WarmPool pool;
    private readonly TimeProvider time;
    private readonly ILogger<FabricAgent> log;
    private XElement? lastStatus;

    public FabricAgent(FabricOptions options, SandboxService sandboxes, WarmPool pool, TimeProvider time, ILogger<FabricAgent> log)
    {
        this.options = options;
        this.sandboxes = sandboxes;
        this.pool = pool;
        this.time = time;
        this.log = log;
    }

    /// <summary>The session, once made (tests read its bound JID).</summary>
    public XmppClient? Client { get; private set; }

    /// <summary>Adds the fabric seat to an agent when its options ask for one.</summary>
    public static void Register(IServiceCollection services, FabricOptions? options)
    {
        if (options is null)
        {
            return;
        }

        services.AddSingleton(options);
        services.AddHostedService<FabricAgent>();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await using var client = new XmppClient(options.ToClientOptions());
        client.IqHandler = HandleIqAsync;
        client.PresenceReceived += OnPresence;
        client.Connected += () =>
        {
            lastStatus = null;
            _ = PublishAsync(client, force: true);
        };
        client.Disconnected += e => LogDisconnected(log, e?.Message ?? "closed");
        Client = client;

        // The first connection is retried here with bounded backoff (the server may start after the agent);
        // after that the client reconnects by itself.
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                await client.ConnectAsync(stoppingToken).ConfigureAwait(false);
                break;
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or XmppException
                or OperationCanceledException && !stoppingToken.IsCancellationRequested)
            {
                var delay = TimeSpan.FromMilliseconds(Math.Min(30_000, 250 * Math.Pow(2, Math.Min(attempt, 10))));
                LogConnectFailed(log, options.Server, e.Message, delay.TotalSeconds);
                await Task.Delay(delay, time, stoppingToken).ConfigureAwait(false);
            }
        }

        LogJoined(log, client.BoundJid?.ToString() ?? options.Jid, options.Server);
        using var timer = new PeriodicTimer(options.StatusInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                await PublishAsync(client, force: false).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The agent is stopping; disposing the client says goodbye to the server.
        }
    }

    /// <summary>Current status as the presence payload.</summary>
    internal XElement Status()
    {
        var pools = pool.Status();
        return FabricProtocol.StatusElement(
            sandboxes.List().Count(s => s.PoolImage is null), pools.Sum(p => p.Ready), pools.Sum(p => p.Target), FreeMemoryMb(), HostAgent.Version);
    }

    private async Task PublishAsync(XmppClient client, bool force)
    {
        var status = Status();
        if (!force && lastStatus is not null && XNode.DeepEquals(status, lastStatus))
        {
            return;
        }

        try
        {
            await client.SendPresenceAsync(payload: status).ConfigureAwait(false);
            lastStatus = status;
        }
        catch (XmppException)
        {
            // Disconnected: the Connected event publishes again.
        }
    }

    private void OnPresence(XElement presence)
    {
        // Allow-listed JIDs may subscribe to this host's presence; that is how a control plane sees hosts come and go.
        var from = presence.Attribute("from")?.Value;
        if (presence.Attribute("type")?.Value != "subscribe" || from is null || Client is null)
        {
            return;
        }

        var type = options.Allows(from) ? "subscribed" : "unsubscribed";
        _ = SendQuietlyAsync(Client.SendSubscriptionAsync(FabricOptions.TryBare(from, out var bare) ? bare : from, type));
    }

    private static async Task SendQuietlyAsync(ValueTask send)
    {
        try
        {
            await send.ConfigureAwait(false);
        }
        catch (XmppException)
        {
            // Disconnected: the requester asks again.
        }
    }

    private async ValueTask<XElement?> HandleIqAsync(XElement iq)
    {
        var request = iq.Element(FabricProtocol.Ns + "sandbox");
        if (request is null)
        {
            return null;
        }

        var from = iq.Attribute("from")?.Value;
        var op = request.Attribute("op")?.Value ?? string.Empty;
        if (!options.Allows(from))
        {
            LogRefused(log, from ?? "(no sender)", op);
            return XmppClient.ErrorFor(iq, "auth", "forbidden", $"{from} may not drive sandboxes on {options.Jid}.");
        }

        try
        {
            var body = await RunAsync(op, request.Attribute("ref")?.Value, request.Value, FabricOptions.TryBare(from!, out var b) ? b : from!).ConfigureAwait(false);
            return XmppClient.ResultFor(iq, FabricProtocol.Answer(op, body));
        }
        catch (InvalidRequestException e)
        {
            return XmppClient.ErrorFor(iq, "modify", e.NotFound ? "item-not-found" : "bad-request", e.Message);
        }
        catch (ResourceExhaustedException e)
        {
            return XmppClient.ErrorFor(iq, "wait", "resource-constraint", e.Message);
        }
        catch (JsonException e)
        {
            return XmppClient.ErrorFor(iq, "modify", "bad-request", $"the body of '{op}' is not valid JSON for it: {e.Message}");
        }
        catch (MoatHostException e)
        {
            return XmppClient.ErrorFor(iq, "wait", "internal-server-error", e.Message);
        }
    }

    private async Task<object?> RunAsync(string op, string? reference, string json, string requester)
    {
        CancellationToken ct = CancellationToken.None;
        bool admin = options.IsAdmin(requester);
        switch (op)
        {
            case "status":
                return new { Jid = options.Jid, Status = Status().Attributes().ToDictionary(a => a.Name.LocalName, a => a.Value) };
            case "ls":
                // Each requester sees the sandboxes handed to it; an administrator sees all of them.
                return sandboxes.List().Where(s => s.PoolImage is null && (admin || Owns(s, requester))).ToList();
            case "claim":
            case "create":
            {
                // The sandbox is handed to the requester: the client name is its JID, whatever the body says, so its
                // trust level (and runtime tier) is the one the administrator gave that JID.
                var spec = (string.IsNullOrWhiteSpace(json) ? new SandboxSpec() : JsonSerializer.Deserialize<SandboxSpec>(json, HostClient.Json)
                    ?? throw new InvalidRequestException($"'{op}' needs a sandbox spec as its JSON body.")) with { Client = requester };
                if (op == "create")
                {
                    return await sandboxes.CreateAsync(spec, true, ct).ConfigureAwait(false);
                }

                var started = time.GetTimestamp();
                var (sandbox, fromPool) = await sandboxes.ClaimAsync(spec, ct).ConfigureAwait(false);
                return new Api.ClaimResponse(sandbox, fromPool, time.GetElapsedTime(started).TotalMilliseconds);
            }

            case "exec":
            {
                var body = JsonSerializer.Deserialize<FabricProtocol.ExecBody>(json, HostClient.Json)
                    ?? throw new InvalidRequestException("'exec' needs {\"command\": [...]} as its JSON body.");
                if (body.TimeoutSeconds is <= 0 or > 86_400)
                {
                    throw new InvalidRequestException($"timeout {body.TimeoutSeconds} s is not valid: give more than 0 and at most 86400 seconds.");
                }

                return await sandboxes.ExecAsync(Owned(reference, op, requester, admin), body.Command ?? [], body.Env, TimeSpan.FromSeconds(body.TimeoutSeconds), ct).ConfigureAwait(false);
            }

            case "inspect":
                return await sandboxes.InspectAsync(Owned(reference, op, requester, admin), ct).ConfigureAwait(false);
            case "rm":
                await sandboxes.DestroyAsync(Owned(reference, op, requester, admin), ct).ConfigureAwait(false);
                return null;
            default:
                throw new InvalidRequestException($"'{op}' is not a host operation: use one of {string.Join(", ", FabricProtocol.Operations)}.");
        }
    }

    private static bool Owns(Sandbox s, string requester) => string.Equals(s.Spec.Client, requester, StringComparison.OrdinalIgnoreCase);

    /// <summary>The id of the referenced sandbox when the requester may act on it. Someone else's sandbox is answered
    /// exactly like one that does not exist, so that its existence is not revealed either.</summary>
    private string Owned(string? reference, string op, string requester, bool admin)
    {
        var s = sandboxes.Get(Ref(reference, op));
        return admin || Owns(s, requester) ? s.Id : throw SandboxService.NoSuchSandbox(reference!);
    }

    private static string Ref(string? reference, string op) =>
        string.IsNullOrEmpty(reference) ? throw new InvalidRequestException($"'{op}' needs ref='<sandbox id or name>'.") : reference;

    private static long FreeMemoryMb()
    {
        foreach (var line in File.ReadLines("/proc/meminfo"))
        {
            if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
            {
                var kb = long.Parse(line.AsSpan(13).Trim().TrimEnd("kB").Trim(), System.Globalization.CultureInfo.InvariantCulture);
                return kb / 1024;
            }
        }

        return 0;
    }

    [LoggerMessage(EventId = 400, Level = LogLevel.Information, Message = "On the XMPP fabric as {Jid} via {Server}")]
    private static partial void LogJoined(ILogger logger, string jid, string server);

    [LoggerMessage(EventId = 401, Level = LogLevel.Warning, Message = "Cannot reach the XMPP server {Server} ({Reason}); retrying in {Seconds} s")]
    private static partial void LogConnectFailed(ILogger logger, string server, string reason, double seconds);

    [LoggerMessage(EventId = 402, Level = LogLevel.Warning, Message = "Lost the XMPP fabric ({Reason}); reconnecting")]
    private static partial void LogDisconnected(ILogger logger, string reason);

    [LoggerMessage(EventId = 403, Level = LogLevel.Warning, Message = "Refused sandbox operation '{Op}' from {From}: not on the allow-list")]
    private static partial void LogRefused(ILogger logger, string from, string op);
}
