using System.Collections.Concurrent;
using System.Net;

namespace Moat.Containment.Flows;

/// <summary>What decided a flow: the rules let it through, or refused it.</summary>
public enum FlowVerdict
{
    Allowed,
    Refused,
}

/// <summary>Who opened a flow: the sandbox (out) or someone reaching the sandbox (in).</summary>
public enum FlowDirection
{
    Out,
    In,
}

/// <summary>
/// One connection of a logged sandbox, as the flow log keeps it: the culprit's name if the sandbox attacks someone.
/// The 5-tuple is in the direction the connection was opened.
/// </summary>
/// <param name="Id">The row id in the log.</param>
/// <param name="Started">When the kernel reported the flow (conntrack NEW, or the first refused packet).</param>
/// <param name="Ended">When conntrack destroyed it (closed, timed out); null while open and for refusals.</param>
/// <param name="SandboxId">The sandbox.</param>
/// <param name="Client">The client the sandbox was handed to, when the agent knows it.</param>
/// <param name="Protocol">The IP protocol number (6 TCP, 17 UDP, 1 ICMP).</param>
/// <param name="BytesSent">Bytes the sandbox sent in this flow (IP lengths; conntrack accounting or the refused packets).</param>
/// <param name="BytesReceived">Bytes the sandbox received.</param>
/// <param name="Packets">For refusals: how many packets of this 5-tuple were refused within the collapse window.</param>
/// <param name="Rule">The rule that refused it ("moat &lt;sandbox&gt; &lt;rule&gt;" NFLOG prefix); null for allowed flows.</param>
public sealed record FlowRecord(
    long Id,
    DateTimeOffset Started,
    DateTimeOffset? Ended,
    string SandboxId,
    string? Client,
    FlowDirection Direction,
    byte Protocol,
    IPAddress Source,
    int SourcePort,
    IPAddress Destination,
    int DestinationPort,
    long BytesSent,
    long BytesReceived,
    long Packets,
    FlowVerdict Verdict,
    string? Rule)
{
    public string ProtocolName => Protocol switch
    {
        1 => "icmp",
        6 => "tcp",
        17 => "udp",
        58 => "icmpv6",
        _ => Protocol.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}

/// <summary>Which records <see cref="FlowStore.Query"/> returns; null fields do not filter.</summary>
public sealed record FlowQuery
{
    public string? SandboxId { get; init; }

    public string? Client { get; init; }

    /// <summary>Flows started at or after this time.</summary>
    public DateTimeOffset? Since { get; init; }

    public FlowVerdict? Verdict { get; init; }

    /// <summary>At most this many records: the newest ones, returned oldest first.</summary>
    public int Limit { get; init; } = 1000;
}

/// <summary>The sandbox (and its client) a flow belongs to.</summary>
public sealed record FlowOwner(string SandboxId, string? Client);

/// <summary>
/// Tells the flow log whose a flow is. The agent supplies it; only semi-trusted and untrusted sandboxes should be
/// known to it, so flows of trusted sandboxes are not logged.
/// </summary>
public interface IFlowAttribution
{
    /// <summary>The owner of a sandbox address, or null when the address is not a logged sandbox's.</summary>
    FlowOwner? ByAddress(IPAddress address);

    /// <summary>The owner by sandbox id (refusals name the sandbox in their log prefix), or null when unknown.</summary>
    FlowOwner? BySandbox(string sandboxId);
}

/// <summary>An <see cref="IFlowAttribution"/> the agent keeps current as sandboxes are handed out and destroyed.</summary>
public sealed class FlowAttributionTable : IFlowAttribution
{
    private readonly ConcurrentDictionary<IPAddress, FlowOwner> _byAddress = new();
    private readonly ConcurrentDictionary<string, (IPAddress Address, FlowOwner Owner)> _bySandbox = new(StringComparer.Ordinal);

    /// <summary>Starts logging a sandbox's flows (or changes its address or client).</summary>
    public void Set(string sandboxId, IPAddress address, string? client)
    {
        ArgumentNullException.ThrowIfNull(sandboxId);
        ArgumentNullException.ThrowIfNull(address);
        Remove(sandboxId);
        var owner = new FlowOwner(sandboxId, client);
        _bySandbox[sandboxId] = (address, owner);
        _byAddress[address] = owner;
    }

    /// <summary>Stops attributing flows to a sandbox (destroyed, or now trusted).</summary>
    public void Remove(string sandboxId)
    {
        if (_bySandbox.TryRemove(sandboxId, out var old))
        {
            _byAddress.TryRemove(new KeyValuePair<IPAddress, FlowOwner>(old.Address, old.Owner));
        }
    }

    public FlowOwner? ByAddress(IPAddress address) => _byAddress.GetValueOrDefault(address);

    public FlowOwner? BySandbox(string sandboxId) => _bySandbox.TryGetValue(sandboxId, out var entry) ? entry.Owner : null;
}

/// <summary>
/// A packet a sandbox's rules refused, as the flow log read it from NFLOG: for watchers that treat a refusal as a
/// failed contact (a scan under containment never reaches conntrack, so this is all they would see of it).
/// </summary>
public sealed record RefusedAttempt(DateTimeOffset Time, string SandboxId, string? Rule, byte Protocol, IPAddress Source, int SourcePort, IPAddress Destination, int DestinationPort);
