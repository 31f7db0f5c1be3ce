namespace Moat.Mtd.Relocation;

/// <summary>How a sandbox was (or would have been) moved.</summary>
public enum MigrationMode
{
    /// <summary>Stop, move the writable layer and volume, start from the same image on the destination.</summary>
    Cold,

    /// <summary>Checkpoint the running sandbox (its processes' memory and its kernel's state: runsc for the gvisor tier),
    /// move the checkpoint with the writable layer and volume, and restore it on the destination.</summary>
    Live,
}

/// <summary>How a relocation ended.</summary>
public enum RelocationOutcome
{
    /// <summary>The sandbox runs on the destination; the source holds nothing of it.</summary>
    Moved,

    /// <summary>The move failed; the sandbox runs on the source as before (restarted when it had been stopped).</summary>
    RolledBack,

    /// <summary>The move failed and the sandbox could not be restarted on the source; its state is still there, stopped.</summary>
    Stranded,
}

/// <summary>The steps of a relocation, in order; observers (tests, faults) see each as it is reached.</summary>
public enum RelocationStage
{
    Reserved,
    SourceStopped,
    StateMoved,
    Serving,
    Switched,
}

/// <summary>What one relocation did and cost.</summary>
/// <param name="Sandbox">The sandbox's name (or source id).</param>
/// <param name="From">Source host.</param>
/// <param name="To">Destination host.</param>
/// <param name="Mode">How it was moved.</param>
/// <param name="LiveUnavailable">Why live migration was not used (per host: CRIU's or runsc's reason; or the checkpoint
/// that failed), or null when it was.</param>
/// <param name="Outcome">Moved, rolled back or stranded.</param>
/// <param name="Failure">One sentence naming the step and the reason, when the move failed.</param>
/// <param name="BytesMoved">Archive bytes streamed from source to destination.</param>
/// <param name="Downtime">From the source stopping to the service answering again (the VIP switched, or the copy started when there is no VIP).</param>
/// <param name="Total">The whole relocation, reservation to clean-up.</param>
/// <param name="SourceId">The sandbox's id on the source.</param>
/// <param name="DestinationId">Its id on the destination (null when it did not move).</param>
/// <param name="OldAddress">Its address on the source.</param>
/// <param name="NewAddress">Its address on the destination.</param>
/// <param name="Warnings">Things that went wrong without stopping the move (e.g. a reservation that could not be removed).</param>
public sealed record RelocationReport(
    string Sandbox,
    string From,
    string To,
    MigrationMode Mode,
    string? LiveUnavailable,
    RelocationOutcome Outcome,
    string? Failure,
    long BytesMoved,
    TimeSpan Downtime,
    TimeSpan Total,
    string SourceId,
    string? DestinationId,
    string? OldAddress,
    string? NewAddress,
    IReadOnlyList<string> Warnings)
{
    public bool Succeeded => Outcome == RelocationOutcome.Moved;

    /// <summary>What a client at the service address saw during the move (null when the sandbox has no service address).</summary>
    public ClientView? ClientView { get; init; }
}
