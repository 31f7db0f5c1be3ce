using System.IO.Pipelines;
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
using Moat.Xmpp.Bytestreams;
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
    private readonly HostStatusReporter? hostStatus;
    private readonly Watch.WatchService? watch;
    private readonly IbbInbox inbox;
    private readonly Metrics.AgentMetrics? metrics;
    private XElement? lastStatus;
    private long failedRequests;

    public FabricAgent(FabricOptions options, SandboxService sandboxes, WarmPool pool, TimeProvider time, ILogger<FabricAgent> log, HostStatusReporter? hostStatus = null,
        Watch.WatchService? watch = null, Metrics.AgentMetrics? metrics = null)
    {
        this.metrics = metrics;
        this.options = options;
        this.sandboxes = sandboxes;
        this.pool = pool;
        this.time = time;
        this.log = log;
        this.hostStatus = hostStatus;
        this.watch = watch;
        inbox = new IbbInbox(TimeSpan.FromSeconds(60), time);
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
        client.Disconnected += e =>
        {
            // Disposing the client as the agent stops ends the session too; that is not a loss worth a warning.
            if (!stoppingToken.IsCancellationRequested)
            {
                LogDisconnected(log, e?.Message ?? "closed");
            }
        };
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
            sandboxes.Store.HeldCount(), pools.Sum(p => p.Ready), pools.Sum(p => p.Target), FreeMemoryMb(), HostAgent.Version, hostStatus?.Features);
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

    public override void Dispose()
    {
        inbox.Dispose();
        base.Dispose();
    }

    private async ValueTask<XElement?> HandleIqAsync(XElement iq)
    {
        // A sandbox's state arriving for an import (XEP-0047); only streams an import announced are taken.
        if (await inbox.HandleAsync(iq).ConfigureAwait(false) is { } answer)
        {
            return answer;
        }

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

        var result = await AnswerAsync(iq, op, request, from!).ConfigureAwait(false);
        if (metrics is not null)
        {
            // Bounded labels: an unknown operation is counted as one, whatever its name.
            var outcome = result.Attribute("type")?.Value == "error"
                ? result.Element(FabricProtocol.Client + "error")?.Elements().FirstOrDefault()?.Name.LocalName ?? "error"
                : "ok";
            metrics.FabricRequests.WithLabels(FabricProtocol.Operations.Contains(op) ? op : "(unknown)", outcome).Inc();
        }

        return result;
    }

    private async Task<XElement> AnswerAsync(XElement iq, string op, XElement request, string from)
    {
        try
        {
            var body = await RunAsync(op, request.Attribute("ref")?.Value, request.Value, FabricOptions.TryBare(from, out var b) ? b : from, from).ConfigureAwait(false);
            return XmppClient.ResultFor(iq, FabricProtocol.Answer(op, body));
        }
        catch (AdminOnlyException e)
        {
            LogRefused(log, from, op);
            return XmppClient.ErrorFor(iq, "auth", "forbidden", e.Message);
        }
        catch (ArgumentException e)
        {
            return XmppClient.ErrorFor(iq, "modify", "bad-request", e.Message);
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
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Anything else is a fault of this host, not of the request: the requester still gets an answer, and the
            // detail (which may name paths and internals) goes to the host's log only.
            Interlocked.Increment(ref failedRequests);
            LogFailed(log, op, from, e);
            return XmppClient.ErrorFor(iq, "wait", "internal-server-error", $"'{op}' failed on {options.Jid} because of an internal error; the host's log has the detail.");
        }
    }

    private async Task<object?> RunAsync(string op, string? reference, string json, string requester, string requesterFull)
    {
        CancellationToken ct = CancellationToken.None;
        bool admin = options.IsAdmin(requester);
        if (!admin && FabricProtocol.AdminOperations.Contains(op))
        {
            throw new AdminOnlyException($"'{op}' moves sandboxes between hosts and is for administrators of {options.Jid} only.");
        }

        switch (op)
        {
            case "status":
                return new
                {
                    Jid = options.Jid,
                    Status = Status().Attributes().ToDictionary(a => a.Name.LocalName, a => a.Value),
                    FailedRequests = Interlocked.Read(ref failedRequests) + (Client?.FailedRequests ?? 0),
                };
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

                // A client address opens a path (and a tunnel) to it: a requester who is not an administrator may name
                // only an address the policy binds to its JID, not a neighbour, a LAN host or the host it chose.
                if (!admin && spec.ClientAddress is { } claimed
                    && (!System.Net.IPAddress.TryParse(claimed, out var address) || !sandboxes.Containment.Binds(requester, address)))
                {
                    throw new AdminOnlyException(
                        $"clientAddress '{claimed}' is not bound to {requester} by the policy of {options.Jid}; leave it out, or ask its administrator to bind it under 'client-addresses'.");
                }
                var started = time.GetTimestamp();
                if (op == "create")
                {
                    var created = await sandboxes.CreateAsync(spec, true, ct).ConfigureAwait(false);
                    metrics?.Create.WithLabels("fabric").Observe(time.GetElapsedTime(started).TotalSeconds);
                    return created;
                }

                var (sandbox, fromPool) = await sandboxes.ClaimAsync(spec, ct).ConfigureAwait(false);
                metrics?.Claim.WithLabels("fabric", fromPool ? "true" : "false").Observe(time.GetElapsedTime(started).TotalSeconds);
                return new Api.ClaimResponse(sandbox, fromPool, time.GetElapsedTime(started).TotalMilliseconds);
            }

            case "exec":
            {
                var body = JsonSerializer.Deserialize<FabricProtocol.ExecBody>(json, HostClient.Json)
                    ?? throw new InvalidRequestException("'exec' needs {\"command\": [...]} as its JSON body.");
                if (body.Command is null || body.Command.Any(a => a is null))
                {
                    throw new InvalidRequestException("'exec' needs 'command' as a list of strings (the program and its arguments), none of them null.");
                }

                if (body.TimeoutSeconds is <= 0 or > 86_400)
                {
                    throw new InvalidRequestException($"timeout {body.TimeoutSeconds} s is not valid: give more than 0 and at most 86400 seconds.");
                }

                return await sandboxes.ExecAsync(Owned(reference, op, requester, admin), body.Command, body.Env, TimeSpan.FromSeconds(body.TimeoutSeconds), ct).ConfigureAwait(false);
            }

            case "inspect":
                return await sandboxes.InspectAsync(Owned(reference, op, requester, admin), ct).ConfigureAwait(false);
            case "rm":
                await sandboxes.DestroyAsync(Owned(reference, op, requester, admin), ct).ConfigureAwait(false);
                return null;
            case "stop":
            {
                var body = BodyOr(json, new FabricProtocol.StopBody());
                if (body.GraceSeconds is < 0 or > 3600)
                {
                    throw new InvalidRequestException($"grace {body.GraceSeconds} s is not valid: give 0 to 3600 seconds.");
                }

                return await sandboxes.StopAsync(Owned(reference, op, requester, admin), TimeSpan.FromSeconds(body.GraceSeconds), ct).ConfigureAwait(false);
            }

            case "start":
                return await sandboxes.StartAsync(Owned(reference, op, requester, admin), ct).ConfigureAwait(false);
            case "quarantine":
            case "release":
            {
                // Administrators only (a control plane lets a client quarantine its own sandbox, never lift one).
                var id = Owned(reference, op, requester, admin);
                var containment = sandboxes.Containment as Network.NftablesContainment
                    ?? throw new ResourceExhaustedException($"{options.Jid} enforces no containment policy, so it cannot quarantine: its agent needs --policy FILE.");
                if (op == "quarantine")
                {
                    await containment.Inner.QuarantineAsync(id, false, ct).ConfigureAwait(false);
                }
                else
                {
                    await containment.Inner.ReleaseAsync(id, ct).ConfigureAwait(false);
                }

                return new Api.QuarantineResponse(id, op == "quarantine", false,
                    op == "quarantine" ? "nftables drop of every packet to and from the sandbox" : "rules of its trust level back in force");
            }

            case "host":
                return hostStatus?.Status() ?? throw new MoatHostException($"{options.Jid} does not report its full status on the fabric.");
            case "checkpoint-support":
                return await sandboxes.CheckpointSupportAsync(ct).ConfigureAwait(false);
            case "checkpoint":
                return await sandboxes.CheckpointAsync(Ref(reference, op), ct).ConfigureAwait(false);
            case "alerts":
            {
                var body = BodyOr(json, new FabricProtocol.AlertsBody());
                if (body.Limit is < 1 or > 100_000)
                {
                    throw new InvalidRequestException($"limit {body.Limit} is not valid: give 1 to 100000.");
                }

                return await (watch ?? throw new MoatHostException($"{options.Jid} has no watchers to report alerts.")).AlertsAsync(null, body.Limit, ct).ConfigureAwait(false);
            }

            case "reserve":
            {
                var manifest = JsonSerializer.Deserialize<SandboxManifest>(json, HostClient.Json)
                    ?? throw new InvalidRequestException("'reserve' needs the source's manifest (spec, image digest, tier, source id) as its JSON body.");
                return await new SandboxTransfer(sandboxes, log).ReserveAsync(manifest, ct).ConfigureAwait(false);
            }

            case "export":
            {
                var body = Transfer(json, op);
                return await ExportAsync(Ref(reference, op), body, requesterFull).ConfigureAwait(false);
            }

            case "import":
            {
                // Announced before anything is awaited: the stream's open follows this request on the same session.
                var body = Transfer(json, op);
                using var incoming = inbox.Expect(body.Sid, requesterFull);
                return await new SandboxTransfer(sandboxes, log).ImportAsync(Ref(reference, op), incoming.Reader, body.Start, ct).ConfigureAwait(false);
            }

            default:
                throw new InvalidRequestException($"'{op}' is not a host operation: use one of {string.Join(", ", FabricProtocol.Operations)}.");
        }
    }

    /// <summary>Streams a stopped sandbox's state to the requester as XEP-0047 stream <c>body.Sid</c>; answers once all of
    /// it was taken (so a tar failure at the end is an error answer, not a short stream taken as whole).</summary>
    private async Task<FabricProtocol.ExportResult> ExportAsync(string reference, FabricProtocol.TransferBody body, string to)
    {
        var transfer = new SandboxTransfer(sandboxes, log);
        var s = transfer.PrepareExport(reference);
        var client = Client ?? throw new MoatHostException($"{options.Jid} is not on the fabric.");
        var pipe = new Pipe();
        var produce = Task.Run(async () =>
        {
            try
            {
                await transfer.ExportAsync(s, pipe.Writer.AsStream(leaveOpen: true), CancellationToken.None).ConfigureAwait(false);
                await pipe.Writer.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                await pipe.Writer.CompleteAsync(e).ConfigureAwait(false);
                throw;
            }
        });
        long bytes;
        try
        {
            bytes = await InBandBytestream.SendAsync(client, to, body.Sid, pipe.Reader.AsStream()).ConfigureAwait(false);
        }
        catch (IbbException e)
        {
            await pipe.Reader.CompleteAsync().ConfigureAwait(false);
            await produce.ConfigureAwait(false); // tar's own failure, if any, says more than the stream's
            throw new MoatHostException($"sending the state of sandbox {s.DisplayName} to {to} failed: {e.Message}");
        }

        await produce.ConfigureAwait(false);
        return new FabricProtocol.ExportResult(bytes);
    }

    private static FabricProtocol.TransferBody Transfer(string json, string op)
    {
        var body = BodyOr<FabricProtocol.TransferBody>(json, null) ?? throw new InvalidRequestException($"'{op}' needs {{\"sid\": \"<stream id>\"}} as its JSON body.");
        return body.Sid is { Length: > 0 and <= 128 } sid && !sid.Any(char.IsControl) && !sid.Any(char.IsWhiteSpace)
            ? body
            : throw new InvalidRequestException($"'{op}' needs 'sid' as the in-band bytestream's id: 1 to 128 characters, no spaces.");
    }

    /// <summary>The request's JSON body, or <paramref name="fallback"/> when it has none (or is JSON null).</summary>
    [return: System.Diagnostics.CodeAnalysis.NotNullIfNotNull(nameof(fallback))]
    private static T? BodyOr<T>(string json, T? fallback)
        where T : class =>
        string.IsNullOrWhiteSpace(json) ? fallback : JsonSerializer.Deserialize<T>(json, HostClient.Json) ?? fallback;

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

    /// <summary>A relocation operation asked by someone who is not an administrator of this host.</summary>
    private sealed class AdminOnlyException(string message) : MoatException(ErrorKind.Refused, message);

    [LoggerMessage(EventId = 400, Level = LogLevel.Information, Message = "On the XMPP fabric as {Jid} via {Server}")]
    private static partial void LogJoined(ILogger logger, string jid, string server);

    [LoggerMessage(EventId = 401, Level = LogLevel.Warning, Message = "Cannot reach the XMPP server {Server} ({Reason}); retrying in {Seconds} s")]
    private static partial void LogConnectFailed(ILogger logger, string server, string reason, double seconds);

    [LoggerMessage(EventId = 402, Level = LogLevel.Warning, Message = "Lost the XMPP fabric ({Reason}); reconnecting")]
    private static partial void LogDisconnected(ILogger logger, string reason);

    [LoggerMessage(EventId = 404, Level = LogLevel.Error, Message = "Sandbox operation '{Op}' from {From} failed; answered internal-server-error")]
    private static partial void LogFailed(ILogger logger, string op, string from, Exception exception);

    [LoggerMessage(EventId = 403, Level = LogLevel.Warning, Message = "Refused sandbox operation '{Op}' from {From}: not on the allow-list")]
    private static partial void LogRefused(ILogger logger, string from, string op);
}
