using System.Net;

namespace Moat.Containment.Flows;

/// <summary>
/// Turns attributed kernel events into rows: a conntrack NEW inserts an allowed record, its DESTROY fills in the end
/// and byte counters; refused packets of one 5-tuple within <see cref="FlowLogOptions.RefusalCollapseWindow"/> add to
/// one refused record (a SYN retried five times is one refusal of five packets).
/// </summary>
internal sealed class FlowRecorder(IFlowAttribution attribution, FlowLogOptions options)
{
    private const int MaxOpenFlows = 262_144;
    private readonly Dictionary<uint, (long Row, FlowDirection Direction)> _open = [];
    private readonly Dictionary<(string Sandbox, string? Rule, byte Protocol, IPAddress Source, int SourcePort, IPAddress Destination, int DestinationPort), (long Row, DateTimeOffset First)> _refused = [];

    public long Inserted { get; private set; }

    public long Closed { get; private set; }

    public long Unattributed { get; private set; }

    /// <summary>Open flows forgotten to bound memory; their DESTROY then inserts a whole record instead of updating one.</summary>
    public long Forgotten { get; private set; }

    public void Apply(KernelFlowEvent e, FlowStore.Batch batch)
    {
        switch (e.Kind)
        {
            case KernelFlowKind.Opened:
                Open(e, batch);
                break;
            case KernelFlowKind.Closed:
                Close(e, batch);
                break;
            case KernelFlowKind.Refused:
                Refuse(e, batch);
                break;
        }
    }

    private (FlowOwner Owner, FlowDirection Direction)? Attribute(KernelFlowEvent e)
    {
        if (attribution.ByAddress(e.Source) is { } sender)
        {
            return (sender, FlowDirection.Out);
        }

        if (attribution.ByAddress(e.Destination) is { } receiver)
        {
            return (receiver, FlowDirection.In);
        }

        Unattributed++;
        return null;
    }

    private void Open(KernelFlowEvent e, FlowStore.Batch batch)
    {
        if (Attribute(e) is not { } who)
        {
            return;
        }

        if (_open.Count >= MaxOpenFlows)
        {
            Forgotten += _open.Count;
            _open.Clear();
        }

        var row = batch.Insert(Record(e, who.Owner, who.Direction, FlowVerdict.Allowed, ended: null, packets: 0));
        Inserted++;
        _open[e.ConntrackId] = (row, who.Direction);
    }

    private void Close(KernelFlowEvent e, FlowStore.Batch batch)
    {
        if (_open.Remove(e.ConntrackId, out var open))
        {
            var (sent, received) = open.Direction == FlowDirection.Out ? (e.OriginalBytes, e.ReplyBytes) : (e.ReplyBytes, e.OriginalBytes);
            batch.Close(open.Row, e.Time, sent, received);
            Closed++;
            return;
        }

        // Opened before the log started (or forgotten): the record has only the end time.
        if (Attribute(e) is { } who)
        {
            batch.Insert(Record(e, who.Owner, who.Direction, FlowVerdict.Allowed, e.Time, packets: 0));
            Inserted++;
        }
    }

    private void Refuse(KernelFlowEvent e, FlowStore.Batch batch)
    {
        var sandbox = e.SandboxId!;
        var key = (sandbox, e.Rule, e.Protocol, e.Source, e.SourcePort, e.Destination, e.DestinationPort);
        if (_refused.TryGetValue(key, out var seen) && e.Time - seen.First < options.RefusalCollapseWindow)
        {
            batch.AddRefusedPacket(seen.Row, e.OriginalBytes);
            return;
        }

        if (_refused.Count >= 4096)
        {
            var horizon = e.Time - options.RefusalCollapseWindow;
            foreach (var stale in _refused.Where(kv => kv.Value.First < horizon).Select(kv => kv.Key).ToList())
            {
                _refused.Remove(stale);
            }

            if (_refused.Count >= 4096)
            {
                _refused.Clear();
            }
        }

        // The prefix names the sandbox; the client comes from the agent (null if it no longer knows the sandbox).
        var owner = attribution.BySandbox(sandbox) ?? new FlowOwner(sandbox, null);
        var direction = attribution.ByAddress(e.Destination)?.SandboxId == sandbox && attribution.ByAddress(e.Source)?.SandboxId != sandbox
            ? FlowDirection.In
            : FlowDirection.Out;
        var row = batch.Insert(Record(e, owner, direction, FlowVerdict.Refused, ended: null, packets: 1));
        Inserted++;
        _refused[key] = (row, e.Time);
    }

    private static FlowRecord Record(KernelFlowEvent e, FlowOwner owner, FlowDirection direction, FlowVerdict verdict, DateTimeOffset? ended, long packets)
    {
        var (sent, received) = direction == FlowDirection.Out ? (e.OriginalBytes, e.ReplyBytes) : (e.ReplyBytes, e.OriginalBytes);
        return new FlowRecord(0, e.Time, ended, owner.SandboxId, owner.Client, direction, e.Protocol, e.Source, e.SourcePort, e.Destination, e.DestinationPort,
            verdict == FlowVerdict.Allowed && ended is null ? 0 : sent, verdict == FlowVerdict.Allowed && ended is null ? 0 : received, packets, verdict, e.Rule);
    }
}
