namespace Moat.Linux.Traffic;

/// <summary>
/// One HTB class: guaranteed <see cref="RateBitsPerSecond"/>, borrowing up to <see cref="CeilBitsPerSecond"/>
/// from its parent; rates are layer 2 (the kernel counts Ethernet frame bytes).
/// </summary>
public sealed record HtbClassSpec(TcHandle ClassId, TcHandle Parent, ulong RateBitsPerSecond, ulong CeilBitsPerSecond)
{
    /// <summary>Bytes this class may send per round when borrowing; siblings with equal quanta share spare bandwidth equally.</summary>
    public uint? QuantumBytes { get; init; }

    /// <summary>Lower is served first when borrowing.</summary>
    public uint Priority { get; init; }

    /// <summary>The largest frame expected; the burst is one millisecond at the rate plus this.</summary>
    public int Mtu { get; init; } = 1600;
}

/// <summary>A qdisc or class as the kernel lists it; <see cref="Rate"/>/<see cref="Ceil"/> are set for HTB classes.</summary>
public sealed record TcObject(int InterfaceIndex, TcHandle Handle, TcHandle Parent, string Kind)
{
    public ulong? RateBitsPerSecond { get; init; }

    public ulong? CeilBitsPerSecond { get; init; }

    /// <summary>Bytes the qdisc or class has sent (layer 2, as HTB charges them).</summary>
    public ulong Bytes { get; init; }

    public uint Packets { get; init; }
}

/// <summary>What the kernel answered to one request of a batch: errno 0 for success, with its extended-ACK text.</summary>
public readonly record struct NetlinkOutcome(string Request, int Errno, string? KernelMessage)
{
    public bool Succeeded => Errno == 0;
}
