namespace Moat.Honeyfarm.Containment;

/// <summary>What a clone may send beyond replies to connections made to it (Potemkin's export policies).</summary>
public enum ExportPolicy
{
    /// <summary>Nothing but replies: every connection a clone opens is dropped in the gateway.</summary>
    Block,

    /// <summary>Replies, and new connections only to the outside source that opened the clone's universe.</summary>
    ReplyOnly,

    /// <summary>
    /// Internal reflection: a connection a clone opens to any address other than its peer is routed back into the
    /// farm, where a clone of the same universe takes that address; nothing new leaves.
    /// </summary>
    Reflect,
}
