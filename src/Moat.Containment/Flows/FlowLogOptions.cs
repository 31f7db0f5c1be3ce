namespace Moat.Containment.Flows;

/// <summary>Settings of the flow log; validated by <see cref="FlowLog"/> when it starts.</summary>
public sealed record FlowLogOptions
{
    /// <summary>The SQLite file, by convention &lt;state&gt;/flows.db.</summary>
    public required string DatabasePath { get; init; }

    /// <summary>The namespace whose conntrack and NFLOG events are read (e.g. /run/netns/NAME); null for the agent's own.</summary>
    public string? NetworkNamespacePath { get; init; }

    /// <summary>Read conntrack NEW/DESTROY events (allowed flows).</summary>
    public bool Conntrack { get; init; } = true;

    /// <summary>The NFLOG group refusals are logged to (the rules' <c>ContainmentOptions.LogGroup</c>); null to read none.</summary>
    public ushort? NflogGroup { get; init; } = 7;

    /// <summary>Set net.netfilter.nf_conntrack_acct=1 in the namespace, without which closed flows carry no byte counts.</summary>
    public bool EnableAccounting { get; init; } = true;

    /// <summary>At most this many events per transaction.</summary>
    public int MaxBatch { get; init; } = 4096;

    /// <summary>How long the first event of a batch may wait for others before the batch is written.</summary>
    public TimeSpan MaxBatchDelay { get; init; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Events waiting between the kernel readers and the writer; beyond it they are counted and dropped.</summary>
    public int QueueCapacity { get; init; } = 262_144;

    /// <summary>
    /// Events each sandbox may always have waiting, even when the queue is full: a flood from one sandbox is dropped
    /// from its own share, never from a quiet neighbour's. The queue may hold up to this many more per sandbox.
    /// </summary>
    public int QueueReservePerSandbox { get; init; } = 256;

    /// <summary>Records older than this are deleted.</summary>
    public TimeSpan Retention { get; init; } = TimeSpan.FromDays(30);

    /// <summary>At most this many records are kept; the oldest go first.</summary>
    public long MaxRecords { get; init; } = 10_000_000;

    public TimeSpan PruneInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Refused packets of one 5-tuple within this window add to one record.</summary>
    public TimeSpan RefusalCollapseWindow { get; init; } = TimeSpan.FromSeconds(10);

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(DatabasePath))
        {
            throw new ContainmentInputException("The flow log needs a database path (e.g. /var/lib/moat/flows.db).");
        }

        if (MaxBatch < 1 || QueueCapacity < 1 || QueueReservePerSandbox < 0 || MaxRecords < 1 || Retention <= TimeSpan.Zero || PruneInterval <= TimeSpan.Zero || MaxBatchDelay < TimeSpan.Zero)
        {
            throw new ContainmentInputException("Flow log options are not valid: batch, queue and record limits must be at least 1 and retention and prune interval positive.");
        }

        if (!Conntrack && NflogGroup is null)
        {
            throw new ContainmentInputException("The flow log reads nothing with conntrack off and no NFLOG group: enable at least one.");
        }
    }
}

/// <summary>What the flow log has done so far.</summary>
/// <param name="Recorded">Records inserted.</param>
/// <param name="Closed">Allowed records completed by their conntrack DESTROY.</param>
/// <param name="Malformed">Kernel messages that could not be read and were skipped.</param>
/// <param name="Unattributed">Flows of addresses that belong to no logged sandbox.</param>
/// <param name="KernelOverruns">Times the kernel dropped events because the socket was full (ENOBUFS).</param>
/// <param name="QueueDrops">Events dropped because the writer fell behind the queue (all sandboxes).</param>
/// <param name="MeanLag">Mean time from reading an event off the socket to its commit.</param>
/// <param name="MaxLag">Longest such time.</param>
public sealed record FlowLogCounters(long Events, long Recorded, long Closed, long Malformed, long Ignored, long Unattributed, long KernelOverruns, long QueueDrops, long Batches, TimeSpan MeanLag, TimeSpan MaxLag)
{
    /// <summary><see cref="QueueDrops"/> by sandbox id ("" for events no logged sandbox owns).</summary>
    public IReadOnlyDictionary<string, long> QueueDropsBySandbox { get; init; } = new Dictionary<string, long>();
}
