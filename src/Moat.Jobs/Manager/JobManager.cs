using System.Collections.Concurrent;
using System.Data.Common;
using System.Xml.Linq;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Moat.Jobs.Commands;
using Moat.Jobs.Protocol;
using Moat.Jobs.Store;
using Moat.Xmpp;
using Moat.Xmpp.Client;

namespace Moat.Jobs.Manager;

/// <summary>
/// Matches queued tasks to idle workers over XMPP. Workers are known by their presence, taken only from allow-listed
/// accounts; one that goes unavailable has its tasks requeued. A batch's answer counts only from the full JID it went
/// to and only for the tasks it held; results are recorded through the store, which accepts each task attempt once.
/// </summary>
public sealed partial class JobManager : IAsyncDisposable
{
    private readonly JobManagerOptions options;
    private readonly IJobStore store;
    private readonly XmppClient client;
    private readonly ConcurrentDictionary<string, WorkerState> workers = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim wake = new(0, 1);
    private readonly CancellationTokenSource stopping = new();
    private readonly JobCommandProcessor commands;
    private readonly WorkerAllowList allow;
    private readonly ILogger log;
    private readonly ConcurrentDictionary<string, byte> refusedOnce = new(StringComparer.Ordinal);
    private Task? loop;
    private volatile bool crashed;
    private int disposed;
    private long leaseRenewed;
    private string[] formerWorkers = [];

    public JobManager(JobManagerOptions options, IJobStore store, ILogger<JobManager>? log = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Validate() is { } problem)
        {
            throw new ArgumentException(problem, nameof(options));
        }

        this.options = options;
        this.store = store;
        this.log = log ?? (ILogger)NullLogger.Instance;
        allow = new WorkerAllowList(options.WorkerAllow);
        client = new XmppClient(options.Xmpp);
        commands = new JobCommandProcessor(store, options.Authorization, () => Workers, Wake, () => Counters);
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

    /// <summary>What the manager refused from the fabric (workers, results, answers) since it started.</summary>
    public JobManagerCounters Counters { get; } = new();

    /// <summary>Requeues what this manager had in flight before a restart, connects, and starts dispatching.</summary>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (allow.IsEmpty)
        {
            LogNoWorkersAllowed(log);
        }

        await store.RequeueManagerAsync(options.ManagerId, cancellationToken).ConfigureAwait(false);
        await RenewLeaseAsync(cancellationToken).ConfigureAwait(false);
        await client.ConnectAsync(cancellationToken).ConfigureAwait(false);
        if (allow.UsesGroups)
        {
            await ReadRosterAsync().ConfigureAwait(false);
        }

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

    /// <summary>
    /// Simulates a crash (fault drills and tests): the connection is reset and nothing more reaches the store — no
    /// result, no requeue, no lease renewal — as when the process is killed. Its tasks wait for its lease to run out.
    /// </summary>
    public async Task CrashAsync()
    {
        crashed = true;
        client.AbortSocket();
        await DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 1)
        {
            return;
        }

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
            if (options.Xmpp.TimeProvider.GetElapsedTime(Interlocked.Read(ref leaseRenewed)) >= options.Lease / 3)
            {
                try
                {
                    await RenewLeaseAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (DbException e)
                {
                    // Unrenewed, the lease runs out and other managers take these tasks over; results that arrive
                    // after that are refused by the store as stale, so nothing is recorded twice.
                    LogStoreUnavailable(log, "renew the manager's lease", e.Message);
                    continue;
                }
            }

            var snapshot = workers.Values.ToArray();
            // Tasks in flight per account: however many resources an account connects and whatever slots each claims,
            // together they hold at most MaxWorkerSlots tasks.
            var accountBusy = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var w in snapshot)
            {
                accountBusy[w.Account] = accountBusy.GetValueOrDefault(w.Account) + Volatile.Read(ref w.Busy);
            }

            for (int i = 0; i < snapshot.Length; i++)
            {
                // Start at a rotating offset so every worker gets work first now and then.
                var worker = snapshot[(i + offset) % snapshot.Length];
                int free = Math.Min(worker.Offer.Slots - worker.Busy, options.MaxWorkerSlots - accountBusy[worker.Account]);
                if (free <= 0 || worker.Gone.IsCancellationRequested || !client.IsConnected)
                {
                    continue;
                }

                IReadOnlyList<TaskAssignment> claimed;
                try
                {
                    claimed = await store.ClaimAsync(options.ManagerId, worker.Offer with { Slots = Math.Min(free, options.MaxBatch) }, cancellationToken).ConfigureAwait(false);
                }
                catch (DbException e)
                {
                    // The store is busy or briefly unavailable; the next round retries.
                    LogStoreUnavailable(log, "claim tasks", e.Message);
                    break;
                }

                if (claimed.Count == 0)
                {
                    continue;
                }

                Interlocked.Add(ref worker.Busy, claimed.Count);
                accountBusy[worker.Account] += claimed.Count;
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
            // The client takes the answer only from the full JID the request went to, so nobody else can answer for this worker.
            var answer = await client.IqAsync(JobProtocol.RunRequest(worker.Offer.Jid, tasks), timeout, worker.Gone.Token).ConfigureAwait(false);
            var checkedAnswer = JobProtocol.CheckResults(answer, tasks, options.MaxResultOutputChars);
            // A worker running the protocol answers every task of its batch once and nothing else; one that does not is
            // broken or lying, and gets no more work until it announces itself again.
            if (checkedAnswer.Refused > 0)
            {
                Counters.RefuseResults(checkedAnswer.Refused);
                LogRefusedResults(log, worker.Offer.Jid, checkedAnswer.Refused);
                Forget(worker);
            }
            else if (checkedAnswer.Malformed is not null || checkedAnswer.Accepted.Count < tasks.Count)
            {
                Counters.RefuseAnswer();
                LogMalformedAnswer(log, worker.Offer.Jid, tasks.Count, checkedAnswer.Malformed ?? "results are missing for some of its tasks");
                Forget(worker);
            }

            if (checkedAnswer.Accepted.Count > 0)
            {
                await StoreAsync("record results", () => crashed ? Task.FromResult(0) : store.CompleteAsync(worker.Offer.Jid, checkedAnswer.Accepted, CancellationToken.None)).ConfigureAwait(false);
            }

            // Whatever the answer left without a valid result goes back to the queue now, not when the worker leaves.
            var answered = checkedAnswer.Accepted.Select(r => r.TaskId).ToHashSet();
            await RequeueAsync(tasks.Where(t => !answered.Contains(t.TaskId))).ConfigureAwait(false);
            options.BatchCompleted?.Invoke(tasks.Count, options.Xmpp.TimeProvider.GetElapsedTime(started));
        }
        catch (XmppIqErrorException)
        {
            // The server bounced the request: the worker is gone although no unavailable presence arrived
            // (e.g. the server restarted). Forget it until it announces itself again.
            Forget(worker);
            await RequeueAsync(tasks).ConfigureAwait(false);
        }
        catch (Exception e) when (e is XmppException or TimeoutException or OperationCanceledException or FormatException)
        {
            // At-least-once: the attempt goes back to the queue; a late answer for it is ignored by the store.
            await RequeueAsync(tasks).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Add(ref worker.Busy, -tasks.Count);
            Wake();
        }
    }

    private async Task RequeueAsync(IEnumerable<TaskAssignment> tasks)
    {
        foreach (var t in tasks)
        {
            await StoreAsync("requeue a task", () => crashed ? Task.FromResult(false) : store.RequeueAsync(t.TaskId, t.Attempt, CancellationToken.None)).ConfigureAwait(false);
        }
    }

    private async Task RenewLeaseAsync(CancellationToken cancellationToken)
    {
        long now = options.Xmpp.TimeProvider.GetTimestamp();
        int taken = await store.RenewLeaseAsync(options.ManagerId, options.Lease, cancellationToken).ConfigureAwait(false);
        Interlocked.Exchange(ref leaseRenewed, now);
        if (taken > 0)
        {
            LogTookOver(log, taken);
            Wake();
        }
    }

    /// <summary>
    /// A write after a batch, tried again while the store is briefly away (a PostgreSQL restart or fail-over) for up to
    /// about a lease; given up on, the attempt stays dispatched until this manager's lease runs out and another takes it.
    /// </summary>
    private async Task StoreAsync<T>(string what, Func<Task<T>> write)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        var deadline = options.Xmpp.TimeProvider.GetTimestamp();
        while (true)
        {
            try
            {
                await write().ConfigureAwait(false);
                return;
            }
            catch (DbException e) when (options.Xmpp.TimeProvider.GetElapsedTime(deadline) < options.Lease && !stopping.IsCancellationRequested)
            {
                LogStoreUnavailable(log, what, e.Message);
            }
            catch (DbException e)
            {
                LogStoreUnavailable(log, what, e.Message);
                return;
            }

            await Task.Delay(delay, options.Xmpp.TimeProvider, CancellationToken.None).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
        }
    }

    /// <summary>Stops sending work to a worker until it announces itself again; its other batches in flight are requeued.</summary>
    private void Forget(WorkerState worker)
    {
        if (workers.TryRemove(new KeyValuePair<string, WorkerState>(worker.Offer.Jid, worker)))
        {
            worker.Gone.Cancel();
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
        if (allow.UsesGroups && known.Length > 0)
        {
            // The roster may have changed while the connection was down.
            _ = ReadRosterAsync();
        }

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

        Jid jid;
        try
        {
            jid = Jid.Parse(from);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            return;
        }

        from = jid.ToString();
        switch (presence.Attribute("type")?.Value)
        {
            case null:
                var offer = JobProtocol.ParseWorker(from, presence);
                if (offer is null)
                {
                    break;
                }

                if (!allow.Allows(jid))
                {
                    Counters.RefuseWorker();
                    if (refusedOnce.Count < 10_000 && refusedOnce.TryAdd(jid.Bare.ToString(), 0))
                    {
                        LogRefusedWorker(log, jid.Bare.ToString());
                    }

                    break;
                }

                offer = offer with { Slots = Math.Min(offer.Slots, options.MaxWorkerSlots) };
                workers.AddOrUpdate(from, _ => new WorkerState(offer, jid.Bare.ToString()), (_, old) => { old.Offer = offer; return old; });
                Wake();
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
                // Only workers (and the people who use the manager) get this manager's presence.
                string bare = jid.Bare.ToString();
                if (allow.Allows(jid) || options.Authorization.CanSubmit(bare))
                {
                    _ = client.SendSubscriptionAsync(bare, "subscribed").AsTask();
                    _ = client.SendSubscriptionAsync(bare, "subscribe").AsTask();
                }
                else
                {
                    _ = client.SendSubscriptionAsync(bare, "unsubscribed").AsTask();
                }

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
        if (client.IsRosterPush(iq))
        {
            // The operator changed the manager's roster: group membership may have changed who is a worker.
            if (allow.UsesGroups)
            {
                _ = ReadRosterAsync();
            }

            return XmppClient.ResultFor(iq);
        }

        var command = iq.Element(JobProtocol.Ns + "command");
        string? from = iq.Attribute("from")?.Value;
        if (command is null || from is null)
        {
            return null;
        }

        var reply = await commands.RunAsync(Jid.Parse(from).Bare.ToString(), command.Value, stopping.Token).ConfigureAwait(false);
        return XmppClient.ResultFor(iq, new XElement(JobProtocol.Ns + "reply", new XAttribute("ok", reply.Ok ? "true" : "false"), reply.Text));
    }

    /// <summary>Reads the roster for the allow-list's groups and forgets workers no longer in them.</summary>
    private async Task ReadRosterAsync()
    {
        try
        {
            var added = allow.SetRoster(await client.GetRosterAsync(stopping.Token).ConfigureAwait(false));
            // Accounts that just became workers may have announced themselves before: ask them again.
            foreach (var account in added)
            {
                await client.SendAsync(new XElement(JobProtocol.Client + "presence", new XAttribute("to", account)), stopping.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is XmppException or TimeoutException or OperationCanceledException)
        {
            LogRosterUnread(log, e.Message);
            return;
        }

        foreach (var w in workers.Values)
        {
            if (!allow.Allows(Jid.Parse(w.Offer.Jid)))
            {
                Forget(w);
                _ = store.RequeueWorkerAsync(w.Offer.Jid, CancellationToken.None).ContinueWith(_ => Wake(), TaskScheduler.Default);
            }
        }
    }

    [LoggerMessage(EventId = 700, Level = LogLevel.Warning, Message = "No worker is allowed: this manager dispatches nothing until workers are named (WorkerAllow / --worker-allow JID or group:NAME)")]
    private static partial void LogNoWorkersAllowed(ILogger logger);

    [LoggerMessage(EventId = 701, Level = LogLevel.Warning, Message = "Ignored the worker announcement of {Account}: not on the worker allow-list")]
    private static partial void LogRefusedWorker(ILogger logger, string account);

    [LoggerMessage(EventId = 702, Level = LogLevel.Warning, Message = "Refused the answer of {Worker} to a batch of {Tasks} tasks ({Problem}); the batch is requeued and the worker dropped")]
    private static partial void LogMalformedAnswer(ILogger logger, string worker, int tasks, string problem);

    [LoggerMessage(EventId = 703, Level = LogLevel.Warning, Message = "Refused {Count} results from {Worker} (not its batch's, duplicate, bad exit code or oversized output); the worker is dropped")]
    private static partial void LogRefusedResults(ILogger logger, string worker, int count);

    [LoggerMessage(EventId = 704, Level = LogLevel.Warning, Message = "Could not read the manager's roster for the worker groups ({Reason}); group members are not taken as workers until it is read")]
    private static partial void LogRosterUnread(ILogger logger, string reason);

    [LoggerMessage(EventId = 705, Level = LogLevel.Warning, Message = "The job store is unavailable; could not {What}: {Reason}")]
    private static partial void LogStoreUnavailable(ILogger logger, string what, string reason);

    [LoggerMessage(EventId = 706, Level = LogLevel.Information, Message = "Took back {Count} tasks held by managers whose lease ran out")]
    private static partial void LogTookOver(ILogger logger, int count);

    private sealed class WorkerState(WorkerOffer offer, string account)
    {
        public WorkerOffer Offer { get; set; } = offer;

        /// <summary>The worker's bare JID: resources of one account share its slot bound.</summary>
        public string Account { get; } = account;

        public int Busy;

        public CancellationTokenSource Gone { get; } = new();
    }
}

/// <summary>A worker as the manager sees it.</summary>
public sealed record WorkerInfo(string Jid, IReadOnlyList<string> Labels, int Slots, int Busy);
