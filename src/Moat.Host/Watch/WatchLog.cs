using Microsoft.Extensions.Logging;

namespace Moat.Host.Watch;

internal static partial class WatchLog
{
    [LoggerMessage(EventId = 5200, Level = LogLevel.Information, Message = "Watch: exec monitor running (runtime {Runtime} sha256 {RuntimeSha}); records in {Database}")]
    public static partial void ExecStarted(ILogger logger, string runtime, string? runtimeSha, string database);

    [LoggerMessage(EventId = 5201, Level = LogLevel.Information, Message = "Watch: conntrack events read in network namespace {Namespace}")]
    public static partial void NetworkStarted(ILogger logger, string @namespace);

    [LoggerMessage(EventId = 5202, Level = LogLevel.Error, Message = "Watch: {Part} stopped: {Reason}")]
    public static partial void PartFailed(ILogger logger, string part, string reason);

    [LoggerMessage(EventId = 5203, Level = LogLevel.Warning, Message = "Watch: cannot watch execs of sandbox {Id}: {Reason}")]
    public static partial void CannotWatch(ILogger logger, string id, string reason);

    [LoggerMessage(EventId = 5210, Level = LogLevel.Warning, Message = "Alert {AlertId} sandbox {Sandbox}: {Detector} from {Source} against {Target} ({Evidence}): {Message}")]
    public static partial void NetworkAlert(ILogger logger, long alertId, string sandbox, string detector, string source, string target, string evidence, string message);

    [LoggerMessage(EventId = 5211, Level = LogLevel.Warning, Message = "Response {ResponseId} sandbox {Sandbox} ({Trust}): {Action} on alert {AlertId}: {Outcome}")]
    public static partial void Responded(ILogger logger, long responseId, string sandbox, string trust, string action, long alertId, string outcome);

    [LoggerMessage(EventId = 5212, Level = LogLevel.Warning, Message = "Response {ResponseId} sandbox {Sandbox}: {Action} reverted by {Operator}")]
    public static partial void Reverted(ILogger logger, long responseId, string sandbox, string action, string @operator);

    [LoggerMessage(EventId = 5213, Level = LogLevel.Information, Message = "Quarantine of sandbox {Sandbox} (response {ResponseId}) put back after restart")]
    public static partial void Reapplied(ILogger logger, string sandbox, long responseId);

    [LoggerMessage(EventId = 5214, Level = LogLevel.Information, Message = "Scan throttle: {Added} sandboxes added, {Removed} removed, {Total} throttled")]
    public static partial void ThrottleChanged(ILogger logger, int added, int removed, int total);
}
