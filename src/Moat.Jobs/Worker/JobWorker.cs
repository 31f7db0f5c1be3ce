using System.Xml.Linq;
using Moat.Jobs.Protocol;
using Moat.Jobs.Store;
using Moat.Xmpp.Client;

namespace Moat.Jobs.Worker;

/// <summary>A worker on the fabric: advertises its capacity to its managers and runs the tasks they send.</summary>
public sealed class JobWorker : IAsyncDisposable
{
    private readonly JobWorkerOptions options;
    private readonly XmppClient client;
    private readonly CancellationTokenSource stopping = new();
    private int running;

    public JobWorker(JobWorkerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.options = options;
        client = new XmppClient(options.Xmpp with { SendInitialPresence = false });
        client.IqHandler = HandleIqAsync;
        client.Connected += () => _ = AnnounceAsync();
        client.PresenceReceived += OnPresence;
    }

    /// <summary>The worker's XMPP connection (full JID, events), for hosts that embed it.</summary>
    public XmppClient Client => client;

    /// <summary>Tasks running now.</summary>
    public int Running => Volatile.Read(ref running);

    public Task StartAsync(CancellationToken cancellationToken = default) => client.ConnectAsync(cancellationToken);

    /// <summary>Simulates a crash: the socket is reset and running tasks are abandoned (fault drills and tests).</summary>
    public async Task CrashAsync()
    {
        client.AbortSocket();
        await stopping.CancelAsync().ConfigureAwait(false);
        await client.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await stopping.CancelAsync().ConfigureAwait(false);
        await client.DisposeAsync().ConfigureAwait(false);
        stopping.Dispose();
    }

    private async Task AnnounceAsync()
    {
        try
        {
            var payload = JobProtocol.WorkerPayload(options.Slots, options.Labels, options.MemoryMb, options.Cpus);
            // Broadcast presence reaches managers that are subscribed (and survives their restarts);
            // directed presence reaches them at once and makes the server tell them when this worker dies.
            await client.SendPresenceAsync(payload: payload).ConfigureAwait(false);
            foreach (var manager in options.Managers)
            {
                if (options.SubscribeToManagers)
                {
                    await client.SendSubscriptionAsync(manager, "subscribe").ConfigureAwait(false);
                }

                await client.SendAsync(new XElement(JobProtocol.Client + "presence", new XAttribute("to", manager), new XElement(payload))).ConfigureAwait(false);
            }
        }
        catch (Moat.Xmpp.XmppException)
        {
            // Lost the connection while announcing: the next Connected event announces again.
        }
    }

    private void OnPresence(XElement presence)
    {
        string? from = presence.Attribute("from")?.Value;
        if (from is null)
        {
            return;
        }

        string bare = Jid.Parse(from).Bare.ToString();
        if (!options.Managers.Any(m => string.Equals(m, bare, StringComparison.OrdinalIgnoreCase)))
        {
            return;
        }

        switch (presence.Attribute("type")?.Value)
        {
            case "subscribe":
                // Only managers may see this worker's presence.
                _ = client.SendSubscriptionAsync(bare, "subscribed").AsTask();
                break;
            case null:
                // A manager came (back) online: tell it directly, in case the subscription is not complete yet.
                _ = SendDirectedAsync(from);
                break;
        }
    }

    private async Task SendDirectedAsync(string to)
    {
        try
        {
            await client.SendAsync(new XElement(JobProtocol.Client + "presence", new XAttribute("to", to),
                JobProtocol.WorkerPayload(options.Slots, options.Labels, options.MemoryMb, options.Cpus))).ConfigureAwait(false);
        }
        catch (Moat.Xmpp.XmppException)
        {
            // Disconnected: the next Connected event announces again.
        }
    }

    private async ValueTask<XElement?> HandleIqAsync(XElement iq)
    {
        var run = iq.Element(JobProtocol.Ns + "run");
        string from = iq.Attribute("from")?.Value ?? string.Empty;
        if (run is null || iq.Attribute("type")?.Value != "set"
            || !options.Managers.Any(m => string.Equals(m, Jid.Parse(from).Bare.ToString(), StringComparison.OrdinalIgnoreCase)))
        {
            return null;
        }

        IReadOnlyList<TaskAssignment> tasks;
        try
        {
            tasks = JobProtocol.ParseRun(run);
        }
        catch (Exception e) when (e is FormatException or NullReferenceException or OverflowException)
        {
            return XmppClient.ErrorFor(iq, "modify", "bad-request", "malformed run request");
        }

        Interlocked.Add(ref running, tasks.Count);
        try
        {
            var results = await Task.WhenAll(tasks.Select(t => options.Executor is { } e ? e.RunAsync(t, options.MaxOutputBytes, stopping.Token) : TaskRunner.RunAsync(t, options.MaxOutputBytes, stopping.Token))).ConfigureAwait(false);
            return XmppClient.ResultFor(iq, JobProtocol.Results(results));
        }
        finally
        {
            Interlocked.Add(ref running, -tasks.Count);
        }
    }
}
