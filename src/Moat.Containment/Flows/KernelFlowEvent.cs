using System.Net;

namespace Moat.Containment.Flows;

/// <summary>What one kernel message said about a flow, before attribution.</summary>
internal enum KernelFlowKind
{
    /// <summary>conntrack confirmed a new connection: the rules let its first packet through.</summary>
    Opened,

    /// <summary>conntrack destroyed a connection, with its byte counters.</summary>
    Closed,

    /// <summary>A packet dropped by a rule and logged to NFLOG with a "moat &lt;sandbox&gt; &lt;rule&gt;" prefix.</summary>
    Refused,
}

/// <param name="ConntrackId">CTA_ID, which pairs a Closed with its Opened.</param>
/// <param name="OriginalBytes">Bytes in the opening direction (conntrack), or the refused packet's IP length.</param>
/// <param name="ReplyBytes">Bytes in the answering direction.</param>
/// <param name="ReceivedTicks">Stopwatch timestamp when the message was read from the socket (for the log's lag).</param>
internal readonly record struct KernelFlowEvent(
    KernelFlowKind Kind,
    DateTimeOffset Time,
    uint ConntrackId,
    byte Protocol,
    IPAddress Source,
    int SourcePort,
    IPAddress Destination,
    int DestinationPort,
    long OriginalBytes,
    long ReplyBytes,
    string? SandboxId,
    string? Rule,
    long ReceivedTicks);
