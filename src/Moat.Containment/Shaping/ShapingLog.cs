using Microsoft.Extensions.Logging;

namespace Moat.Containment.Shaping;

internal static partial class ShapingLog
{
    [LoggerMessage(EventId = 3401, Level = LogLevel.Information, Message = "Shaping ready on {Uplinks}: {Sandboxes} sandboxes found in the kernel")]
    public static partial void Ready(ILogger logger, string uplinks, int sandboxes);

    [LoggerMessage(EventId = 3402, Level = LogLevel.Debug, Message = "Shaped sandbox {SandboxId} on {Veth} (slot {Slot}, egress {Egress}, {Flows} flow classes, rules rewritten: {Rules})")]
    public static partial void Applied(ILogger logger, string sandboxId, string veth, int slot, BitRate egress, int flows, bool rules);

    [LoggerMessage(EventId = 3403, Level = LogLevel.Debug, Message = "Removed shaping of sandbox {SandboxId}")]
    public static partial void Removed(ILogger logger, string sandboxId);

    [LoggerMessage(EventId = 3404, Level = LogLevel.Warning, Message = "Shaping change for sandbox {SandboxId} failed and was undone: {Reason}")]
    public static partial void RolledBack(ILogger logger, string sandboxId, string reason);

    [LoggerMessage(EventId = 3405, Level = LogLevel.Error, Message = "Undoing a failed shaping change left {Request}: {Reason}")]
    public static partial void UndoFailed(ILogger logger, string request, string reason);

    [LoggerMessage(EventId = 3406, Level = LogLevel.Warning, Message = "Could not delete unused class: {Request}: {Reason}")]
    public static partial void CleanupFailed(ILogger logger, string request, string reason);

    [LoggerMessage(EventId = 3407, Level = LogLevel.Information, Message = "Shaping reconciled: {Removed} orphans removed, {Applied} sandboxes re-applied, {OrphanClasses} orphan classes deleted")]
    public static partial void Reconciled(ILogger logger, int removed, int applied, int orphanClasses);
}
