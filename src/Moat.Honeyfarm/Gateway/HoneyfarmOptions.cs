using System.Net;
using Moat.Honeyfarm.Clones;
using Moat.Honeyfarm.Containment;
using Moat.Honeyfarm.Limits;

namespace Moat.Honeyfarm.Gateway;

/// <summary>What to do with the first packet to a new address when every clone is taken.</summary>
public enum FullPolicy
{
    /// <summary>Recycle the clone that has been idle longest and give its slot to the new address.</summary>
    RecycleLongestIdle,

    /// <summary>Drop the packet; the address stays dark until a clone is free.</summary>
    Drop,
}

/// <summary>A honeyfarm gateway's settings: the dark range it owns, the clones behind it, and how it contains them.</summary>
public sealed record HoneyfarmOptions
{
    /// <summary>The dark address range the gateway answers for.</summary>
    public required IPNetwork DarkRange { get; init; }

    /// <summary>The interface (in the gateway's namespace) facing the outside; clones' replies leave through it.</summary>
    public required string OutsideInterface { get; init; }

    /// <summary>The router on the outside, or null when attackers are on the outside link itself.</summary>
    public IPAddress? OutsideGateway { get; init; }

    /// <summary>The most live clones (all universes together); the pool never grows past it.</summary>
    public int MaxClones { get; init; } = 256;

    /// <summary>Pre-started clones kept ready so that a first packet waits only for the claim.</summary>
    public int WarmClones { get; init; } = 8;

    public FullPolicy WhenFull { get; init; } = FullPolicy.RecycleLongestIdle;

    /// <summary>
    /// Scan filter: at most one new clone per (source, destination port, protocol) in this interval (Potemkin: 60 s),
    /// so a horizontal scan does not take a clone per address. Zero turns the filter off.
    /// </summary>
    public TimeSpan ScanFilterInterval { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Keys the scan filter holds per generation (it holds at most two). A spoofed flood of more new keys than this within
    /// one interval makes it forget its oldest keys early (counted in <see cref="HoneyfarmCounters.ScanFilterForgotten"/>).
    /// </summary>
    public int ScanFilterCapacity { get; init; } = ScanFilter.DefaultCapacity;

    /// <summary>
    /// New outside sources admitted per second (the burst is as large). Each costs a policy rule (and a route under
    /// reflect) and may open a universe; a source beyond the rate is dropped and counted in
    /// <see cref="HoneyfarmCounters.SourcesRefused"/>, and its sender retransmits. Sources already known are never limited.
    /// </summary>
    public int NewSourcesPerSecond { get; init; } = 100;

    /// <summary>
    /// The most outside sources the gateway keeps state for (a rule each in the kernel). When full, a new source takes
    /// the place of the shared universe's least recently seen source (counted in
    /// <see cref="HoneyfarmCounters.SourcesEvicted"/>); sources with a universe of their own are never evicted for it.
    /// </summary>
    public int MaxSources { get; init; } = 4096;

    /// <summary>
    /// Under <see cref="FullPolicy.RecycleLongestIdle"/>, only a clone whose link has moved no packet for this long is
    /// recycled for a new address; when every clone is busier (or newer), the new address is dropped as under
    /// <see cref="FullPolicy.Drop"/>. A flood of spoofed first packets thus cannot take the clones that are serving.
    /// </summary>
    public TimeSpan RecycleAfterIdle { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How many UDP answers an in-process clone gives; to an unproven sender never more bytes than it sent.</summary>
    public UdpReplyLimits UdpReplies { get; init; } = UdpReplyLimits.Default;

    /// <summary>A clone that has seen no packet for this long is recycled.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>What a clone may send that is not a reply.</summary>
    public ExportPolicy Export { get; init; } = ExportPolicy.Reflect;

    /// <summary>
    /// The scrubbed DNS subset of the export policy: clones may ask their universe's resolver (169.254.53.53:53,
    /// answered by the gateway through the universe's TUN device), which answers A queries with addresses of the
    /// dark range and forwards nothing, at most <see cref="DnsQueriesPerSecond"/> per clone.
    /// </summary>
    public bool ScrubbedDns { get; init; }

    public int DnsQueriesPerSecond { get; init; } = 10;

    /// <summary>
    /// Folder for per-universe packet captures (<c>universe-ID.pcap</c>: everything on the universe's device and its
    /// clones' links); null captures nothing (the capture's socket sees every packet of the gateway's namespace).
    /// </summary>
    public string? CaptureDir { get; init; }

    /// <summary>The largest capture file per universe; later packets are counted, not written.</summary>
    public long CaptureBytesPerUniverse { get; init; } = 256L << 20;

    /// <summary>Packets buffered per binding while its clone is being claimed; later ones are dropped (the sender retransmits).</summary>
    public int BufferedPacketsPerBinding { get; init; } = 16;

    /// <summary>The most universes (outside sources) at once; a new source beyond it joins the shared universe.</summary>
    public int MaxUniverses { get; init; } = 64;

    /// <summary>
    /// The fraction (0..1) of new outside sources that join one shared universe instead of opening their own;
    /// sources beyond <see cref="MaxUniverses"/> always do.
    /// </summary>
    public double SharedFraction { get; init; }

    /// <summary>The services a clone offers where no range of <see cref="Personalities"/> says otherwise.</summary>
    public Personality Personality { get; init; } = Personality.Default;

    /// <summary>
    /// Ranges of the dark range answered by other personalities (the longest matching prefix wins). Each
    /// personality has its own warm pool of <see cref="WarmClones"/> clones.
    /// </summary>
    public IReadOnlyList<PersonalityRange> Personalities { get; init; } = [];

    /// <summary>The personality that answers for an address (longest matching range, else <see cref="Personality"/>).</summary>
    public Personality PersonalityOf(System.Net.IPAddress address) =>
        Personalities.Where(p => p.Range.Contains(address)).MaxBy(p => p.Range.PrefixLength)?.Personality ?? Personality;

    /// <summary>Every personality the farm can need, each once.</summary>
    public IReadOnlyList<Personality> AllPersonalities => [.. Personalities.Select(p => p.Personality).Prepend(Personality).Distinct()];

    /// <summary>
    /// Clones as real sandboxes (an OCI container over a reference image, its state kept for analysis when it
    /// changed); null runs each clone's services in the gateway's process (light, for scale and tests of routing).
    /// </summary>
    public ContainerCloneOptions? Containers { get; init; }

    /// <summary>Throws one sentence naming the setting and what would be valid.</summary>
    public void Validate()
    {
        if (DarkRange.BaseAddress.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || DarkRange.PrefixLength < 8)
        {
            throw new ArgumentException($"Dark range {DarkRange} must be an IPv4 prefix of length 8 to 32.");
        }

        if (MaxClones < 1 || WarmClones < 0 || WarmClones > MaxClones)
        {
            throw new ArgumentException($"MaxClones ({MaxClones}) must be at least 1 and WarmClones ({WarmClones}) between 0 and MaxClones.");
        }

        if (MaxUniverses < 1 || MaxUniverses > 4000)
        {
            throw new ArgumentException($"MaxUniverses ({MaxUniverses}) must be between 1 and 4000.");
        }

        if (SharedFraction is < 0 or > 1 || double.IsNaN(SharedFraction))
        {
            throw new ArgumentException($"SharedFraction ({SharedFraction}) must be between 0 and 1.");
        }

        foreach (var p in Personalities)
        {
            if (p.Range.BaseAddress.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || p.Range.PrefixLength < DarkRange.PrefixLength || !DarkRange.Contains(p.Range.BaseAddress))
            {
                throw new ArgumentException($"Personality range {p.Range} ({p.Personality.Name}) must lie inside the dark range {DarkRange}.");
            }

            if (p.Personality.TcpPorts.Count == 0 && p.Personality.UdpPorts.Count == 0)
            {
                throw new ArgumentException($"Personality {p.Personality.Name} offers no port; give it at least one TCP or UDP port.");
            }
        }

        if (DnsQueriesPerSecond is < 1 or > 10_000)
        {
            throw new ArgumentException($"DnsQueriesPerSecond ({DnsQueriesPerSecond}) must be between 1 and 10000.");
        }

        if (ScanFilterCapacity is < 1024 or > 16_777_216)
        {
            throw new ArgumentException($"ScanFilterCapacity ({ScanFilterCapacity}) must be between 1024 and 16777216.");
        }

        if (NewSourcesPerSecond is < 1 or > 100_000 || MaxSources <= MaxUniverses || MaxSources > 1_000_000)
        {
            throw new ArgumentException($"NewSourcesPerSecond ({NewSourcesPerSecond}) must be between 1 and 100000, and MaxSources ({MaxSources}) above MaxUniverses ({MaxUniverses}) and at most 1000000.");
        }

        if (RecycleAfterIdle < TimeSpan.Zero)
        {
            throw new ArgumentException($"RecycleAfterIdle ({RecycleAfterIdle}) must be zero or more.");
        }

        if (UdpReplies.PerSecond < 1 || UdpReplies.PerSenderPerSecond < 1 || UdpReplies.PerSenderPerSecond > UdpReplies.PerSecond)
        {
            throw new ArgumentException($"UdpReplies ({UdpReplies.PerSecond}/s, {UdpReplies.PerSenderPerSecond}/s per sender) must allow at least 1 a second, and no more per sender than in all.");
        }

        if (ScanFilterInterval < TimeSpan.Zero || IdleTimeout <= TimeSpan.Zero || BufferedPacketsPerBinding < 1)
        {
            throw new ArgumentException("ScanFilterInterval must be zero or more, IdleTimeout more than zero and BufferedPacketsPerBinding at least 1.");
        }
    }
}
