using Moat.Fuzz.Engine;

namespace Moat.Fuzz.Targets;

/// <summary>Every parser of outside input Moat has, one target each.</summary>
internal static class FuzzTargets
{
    public static IReadOnlyList<Func<FuzzTarget>> All { get; } =
    [
        XmppTargets.Stream,
        XmppTargets.Ibb,
        XmppTargets.Jobs,
        CaptureTargets.Pcap,
        CaptureTargets.PcapNg,
        CaptureTargets.Packet,
        PolicyTargets.Yaml,
        PkiTargets.Certificate,
        PkiTargets.Crl,
        ImageTargets.Layer,
        ImageTargets.Archive,
        FarmTargets.PacketHeaders,
        FarmTargets.Dns,
        EgressDnsTargets.Codec,
        MonitorTargets.Elf,
        MonitorTargets.Packages,
        HostTargets.Api,
    ];

    public static IReadOnlyList<string> Names { get; } = All.Select(t => t().Name).ToList();

    /// <summary>The targets a name selects: one by name, or every target for "all".</summary>
    public static IReadOnlyList<FuzzTarget> Select(string name)
    {
        var targets = All.Select(t => t()).ToList();
        if (name == "all")
        {
            return targets;
        }

        var chosen = targets.Where(t => t.Name == name).ToList();
        return chosen.Count > 0
            ? chosen
            : throw new ArgumentException($"'{name}' is not a fuzz target; use all or one of: {string.Join(", ", targets.Select(t => t.Name))}.");
    }
}
