using System.Net;
using Moat.Honeyfarm.Clones;
using Moat.Honeyfarm.Interop;

namespace Moat.Honeyfarm.Universes;

/// <summary>One infection's copy of the world: the outside source that opened it, its routing table, its TUN device, and its clones by address.</summary>
/// <remarks>The same dark address may be bound in several universes at once; routes of one universe live only in its table.</remarks>
internal sealed class Universe(int id, uint? attacker, uint table, TunDevice tun)
{
    public int Id { get; } = id;

    /// <summary>The outside source that opened the universe, or null for the shared universe.</summary>
    public uint? Attacker { get; } = attacker;

    public uint Table { get; } = table;

    public TunDevice Tun { get; } = tun;

    public Dictionary<uint, Binding> Bindings { get; } = [];

    /// <summary>The outside sources whose packets this universe receives (one, or many for the shared universe).</summary>
    public HashSet<uint> Sources { get; } = [];

    /// <summary>The causal chain: which address's clone made which address be bound (A→B), in order.</summary>
    public List<(uint From, uint To)> Infections { get; } = [];

    public Thread? Reader { get; set; }

    /// <summary>Timestamp of the last packet from one of its sources that reached the gateway (its clones count their own).</summary>
    public long LastActivity { get; set; }

    /// <summary>Set (under the gateway's lock) when the universe is closed: its reader stops, late claims retire their clone.</summary>
    public bool Closed { get; set; }
}

/// <summary>A dark address in a universe: being claimed (packets wait in <see cref="Pending"/>) or served by <see cref="Clone"/>.</summary>
internal sealed class Binding(uint address)
{
    public uint Address { get; } = address;

    public Clone? Clone { get; set; }

    public List<byte[]> Pending { get; } = [];
}

/// <summary>What the gateway reports about one universe.</summary>
/// <remarks><see cref="Capture"/> is the universe's packet capture file when the farm captures (it appears with the first packet).</remarks>
public sealed record UniverseStatus(int Id, IPAddress? Attacker, IReadOnlyList<CloneStatus> Clones, IReadOnlyList<(IPAddress From, IPAddress To)> Infections, string? Capture = null);

/// <summary>What the gateway reports about one live clone.</summary>
public sealed record CloneStatus(IPAddress Address, int Universe, string Name, string HostName, long Contacts, string Personality = "");
