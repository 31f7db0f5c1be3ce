namespace Moat.Containment.Flows;

/// <summary>
/// The queue between the flow log's kernel readers and its writer, fair between sandboxes: each sandbox's events wait in
/// a lane of their own, the writer takes one event from each lane in turn, and when the queue is full only a sandbox
/// whose lane already holds <see cref="Reserve"/> events loses the new one. A sandbox flooding new flows so fills its
/// own lane and the shared capacity, never a quiet neighbour's reserve; drops are counted per sandbox.
/// </summary>
/// <remarks>
/// Memory is bounded by <c>capacity + reserve × lanes</c>; a lane exists only while it holds events, and lanes are keyed
/// by sandbox id (events no sandbox owns share one lane, the empty key), so their number is bounded by the sandboxes
/// logged. Writers and the reader may be on different threads; every operation is O(1) under one lock.
/// </remarks>
internal sealed class FairFlowQueue
{
    /// <summary>How many sandboxes' drop counts are remembered; beyond it, new sandboxes' drops count only in the total.</summary>
    internal const int MaxRememberedSandboxes = 16_384;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, Queue<KernelFlowEvent>> _lanes = new(StringComparer.Ordinal);
    private readonly Queue<(string Key, Queue<KernelFlowEvent> Lane)> _turns = new();
    private readonly Dictionary<string, long> _drops = new(StringComparer.Ordinal);
    private readonly int _capacity;
    private TaskCompletionSource? _waiter;
    private int _count;
    private long _dropped;
    private bool _completed;

    public FairFlowQueue(int capacity, int reserve)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(reserve);
        _capacity = capacity;
        Reserve = reserve;
    }

    /// <summary>Events a sandbox may always have waiting, however full the queue is.</summary>
    public int Reserve { get; }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _count;
            }
        }
    }

    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Drops per sandbox id (the empty key: events no sandbox owns).</summary>
    public IReadOnlyDictionary<string, long> DropsBySandbox
    {
        get
        {
            lock (_lock)
            {
                return new Dictionary<string, long>(_drops, StringComparer.Ordinal);
            }
        }
    }

    /// <summary>Queues <paramref name="e"/> in <paramref name="sandboxId"/>'s lane; false (and counted) when it was dropped.</summary>
    public bool TryWrite(string sandboxId, KernelFlowEvent e)
    {
        ArgumentNullException.ThrowIfNull(sandboxId);
        TaskCompletionSource? wake;
        lock (_lock)
        {
            if (_completed)
            {
                return false;
            }

            _lanes.TryGetValue(sandboxId, out var lane);
            var waiting = lane?.Count ?? 0;
            if (waiting >= Reserve && _count >= _capacity)
            {
                Interlocked.Increment(ref _dropped);
                if (_drops.TryGetValue(sandboxId, out var drops) || _drops.Count < MaxRememberedSandboxes)
                {
                    _drops[sandboxId] = drops + 1;
                }

                return false;
            }

            if (lane is null)
            {
                lane = new Queue<KernelFlowEvent>();
                _lanes[sandboxId] = lane;
                _turns.Enqueue((sandboxId, lane));
            }

            lane.Enqueue(e);
            _count++;
            (wake, _waiter) = (_waiter, null);
        }

        wake?.TrySetResult();
        return true;
    }

    /// <summary>Takes the next event, one lane after another.</summary>
    public bool TryRead(out KernelFlowEvent e)
    {
        lock (_lock)
        {
            if (!_turns.TryDequeue(out var turn))
            {
                e = default;
                return false;
            }

            e = turn.Lane.Dequeue();
            _count--;
            if (turn.Lane.Count > 0)
            {
                _turns.Enqueue(turn);
            }
            else
            {
                _lanes.Remove(turn.Key);
            }

            return true;
        }
    }

    /// <summary>True once an event waits; false once <see cref="Complete"/> was called and nothing is left.</summary>
    public async ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task wait;
            lock (_lock)
            {
                if (_count > 0)
                {
                    return true;
                }

                if (_completed)
                {
                    return false;
                }

                _waiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = _waiter.Task;
            }

            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>No more events will be written; the reader drains what is queued.</summary>
    public void Complete()
    {
        TaskCompletionSource? wake;
        lock (_lock)
        {
            _completed = true;
            (wake, _waiter) = (_waiter, null);
        }

        wake?.TrySetResult();
    }
}
