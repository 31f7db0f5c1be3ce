namespace Moat.Detect.Detectors;

/// <summary>What the containment filter does with one packet.</summary>
public enum ContainmentVerdict
{
    Pass,

    /// <summary>A new first contact from a source over the threshold.</summary>
    BlockScanner,

    /// <summary>A non-SYN TCP packet to the inside that belongs to no connection ("hygiene" drop).</summary>
    BlockUnsolicited,
}
