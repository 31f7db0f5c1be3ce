using System.Collections.Concurrent;
using System.Xml.Linq;
using Moat.Jobs.Commands;
using Moat.Jobs.Protocol;
using Moat.Jobs.Store;
using Moat.Xmpp;
using Moat.Xmpp.Client;

namespace Moat.Jobs.Manager;

/// <summary>
/// Matches queued tasks to idle workers over XMPP. Workers are known by their presence; one that goes unavailable has
/// its tasks requeued. Results are recorded through the store, which accepts each task attempt once.
/// </summary>
public sealed class JobManager : IAsyncDisposable
{
    private readonly JobManagerOptions options;
    private readonly IJobStore store;
    private readonly XmppClient client;
    private readonly ConcurrentDictionary<string, WorkerState> workers = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim wake = new(0, 1);
    private readonly CancellationTokenSource stopping = new();
    private readonly JobCommandProcessor commands;
    private Task? loop;
    private string[] formerWorkers = [];

    public JobManager(JobManagerOptions options, IJobStore store)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.options = options;
        this.store = store;
        client = new XmppClient(options.Xmpp);
        commands = new JobCommandProcessor(store, options.Authorization, () => Workers, Wake);
        client.PresenceReceived += OnPresence;
        client.Disconnected += OnDisconnected;
        client.Connected += OnConnected;
        client.MessageReceived += OnMessage;
        client.IqHandler = HandleIqAsync;
    }

    /// <summary>Workers currently available, with their free slots.</summary>
    public IReadOnlyList<WorkerInfo> Workers =>
        workers.Values.Select(w => new WorkerInfo(w.Offer.Jid, w.Offer.Labels, w.Offer.Slots, w.Busy)).OrderBy(w => w.Jid, StringComparer.Ordinal).ToList();

    public XmppClient Client => client;

    /// <summary>Requeues what this manager had in flight before a restart, connects, and starts dispatching.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await store.RequeueManagerAsync(options.ManagerId, cancellationToken).ConfigureAwait(false);
        await client.ConnectAsync(cancellationToken).ConfigureAwait(false);
        loop = Task.Run(() => DispatchLoopAsync(stopping.Token), CancellationToken.None);
    }

    /// <summary>Asks the dispatcher to look for work now (after a submit).</summary>
    public void Wake()
    {
        try
        {
            wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled: one wake-up covers any number of events.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stopping.CancelAsync().ConfigureAwait(false);
        if (loop is not null)
        {
            try
            {
                await loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopping is the only way out of the loop.
            }
        }

        await client.DisposeAsync().ConfigureAwait(false);
        foreach (var w in workers.Values)
        {
            w.Gone.Dispose();
        }

        stopping.Dispose();
    }

    private async Task DispatchLoopAsync(CancellationToken cancellationToken)
    {
        int offset = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            await wake.WaitAsync(options.PollInterval, cancellationToken).ConfigureAwait(false);
            var snapshot = workers.Values.ToArray();
            for (int i = 0; i < snapshot.Length; i++)
            {
                // Start at a rotating offset so every worker gets work first now and then.
                var worker = snapshot[(i + offset) % snapshot.Length];
                int free = worker.Offer.Slots - worker.Busy;
                if (free <= 0 || worker.Gone.IsCancellationRequested || !client.IsConnected)
                {
                    continue;
                }

                IReadOnlyList<TaskAssignment> claimed;
                try
                {
                    claimed = await store.ClaimAsync(options.ManagerId, worker.Offer with { Slots = Math.Min(free, options.MaxBatch) }, cancellationToken).ConfigureAwait(false);
                }
                catch (Microsoft.Data.Sqlite.SqliteException)
                {
                    // The store is busy or briefly unavailable; the next round retries.
                    break;
                }

                if (claimed.Count == 0)
                {
                    continue;
                }

                Interlocked.Add(ref worker.Busy, claimed.Count);
                _ = RunBatchAsync(worker, claimed);
            }

            offset = snapshot.Length == 0 ? 0 : (offset + 1) % snapshot.Length;
        }
    }

    private async Task RunBatchAsync(WorkerState worker, IReadOnlyList<TaskAssignment> tasks)
    {
        try
        {
            long started = options.Xmpp.TimeProvider.GetTimestamp();
            var timeout = tasks.Max(t => t.Timeout) + options.AnswerGrace;
            var answer = await client.IqAsync(JobProtocol.RunRequest(worker.Offer.Jid, tasks), timeout, worker.Gone.Token).ConfigureAwait(false);
            await store.CompleteAsync(JobProtocol.ParseResults(answer), CancellationToken.None).ConfigureAwait(false);
            options.BatchCompleted?.Invoke(tasks.Count, options.Xmpp.TimeProvider.GetElapsedTime(started));
        }
        catch (XmppIqErrorException)
        {
            // The server bounced the request: the worker is gone although no unavailable presence arrived
            // (e.g. the server restarted). Forget it until it announces itself again.
            if (workers.TryRemove(worker.Offer.Jid, out var ghost))
            {
                ghost.Gone.Cancel();
            }

            foreach (var t in tasks)
            {
                await store.RequeueAsync(t.TaskId, t.Attempt, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is XmppException or TimeoutException or OperationCanceledException or FormatException)
        {
            // At-least-once: the attempt goes back to the queue; a late answer for it is ignored by the store.
            foreach (var t in tasks)
            {
                await store.RequeueAsync(t.TaskId, t.Attempt, CancellationToken.None).ConfigureAwait(false);
            }
        }
        finally
        {
            Interlocked.Add(ref worker.Busy, -tasks.Count);
            Wake();
        }
    }

    private void OnDisconnected(Exception? reason)
    {
        // Without a connection the manager cannot know who is alive; remember who was, so they can be asked again.
        formerWorkers = workers.Keys.ToArray();
        foreach (var jid in formerWorkers)
        {
            if (workers.TryRemove(jid, out var w))
            {
                w.Gone.Cancel();
            }
        }
    }

    private void OnConnected()
    {
        // Directed presence to the workers known before the connection dropped: each answers with its offer.
        var known = Interlocked.Exchange(ref formerWorkers, []);
        _ = Task.Run(async () =>
        {
            foreach (var jid in known)
            {
                try
                {
                    await client.SendAsync(new XElement(JobProtocol.Client + "presence", new XAttribute("to", jid))).ConfigureAwait(false);
                }
                catch (XmppDisconnectedException)
                {
                    return;
                }
            }
        });
    }

    private void OnPresence(XElement presence)
    {
        string? from = presence.Attribute("from")?.Value;
        if (from is null)
        {
            return;
        }

        switch (presence.Attribute("type")?.Value)
        {
            case null:
                var offer = JobProtocol.ParseWorker(from, presence);
                if (offer is not null)
                {
                    workers.AddOrUpdate(from, _ => new WorkerState(offer), (_, old) => { old.Offer = offer; return old; });
                    Wake();
                }

                break;
            case "unavailable":
                if (workers.TryRemove(from, out var gone))
                {
                    gone.Gone.Cancel();
                    _ = store.RequeueWorkerAsync(from, CancellationToken.None).ContinueWith(_ => Wake(), TaskScheduler.Default);
                }

                break;
            case "subscribe":
                // Subscribing both ways lets the server re-deliver every worker's presence when this manager restarts.
                string bare = Jid.Parse(from).Bare.ToString();
                _ = client.SendSubscriptionAsync(bare, "subscribed").AsTask();
                _ = client.SendSubscriptionAsync(bare, "subscribe").AsTask();
                break;
        }
    }

    private void OnMessage(XElement message)
    {
        string? body = message.Element(JobProtocol.Client + "body")?.Value;
        string? from = message.Attribute("from")?.Value;
        if (string.IsNullOrWhiteSpace(body) || from is null || message.Attribute("type")?.Value == "error")
        {
            return;
        }

        _ = ReplyAsync(from, body);
    }

    private async Task ReplyAsync(string from, string body)
    {
        string reply = await commands.ExecuteAsync(Jid.Parse(from).Bare.ToString(), body, stopping.Token).ConfigureAwait(false);
        try
        {
            await client.SendMessageAsync(from, reply).ConfigureAwait(false);
        }
        catch (XmppDisconnectedException)
        {
            // The person sees no answer and can ask again once the manager is back.
        }
    }

    private async ValueTask<XElement?> HandleIqAsync(XElement iq)
    {
        var command = iq.Element(JobProtocol.Ns + "command");
        string? from = iq.Attribute("from")?.Value;
        if (command is null || from is null)
        {
            return null;
        }

        var reply = await commands.RunAsync(Jid.Parse(from).Bare.ToString(), command.Value, stopping.Token).ConfigureAwait(false);
        return XmppClient.ResultFor(iq, new XElement(JobProtocol.Ns + "reply", new XAttribute("ok", reply.Ok ? "true" : "false"), reply.Text));
    }

    private sealed class WorkerState(WorkerOffer offer)
    {
        public WorkerOffer Offer { get; set; } = offer;

        public int Busy;

        public CancellationTokenSource Gone { get; } = new();
    }
}

/// <summary>A worker as the manager sees it.</summary>
public sealed record WorkerInfo(string Jid, IReadOnlyList<string> Labels, int Slots, int Busy);
