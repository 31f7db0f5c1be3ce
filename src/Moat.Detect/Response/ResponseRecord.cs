using Moat.Detect.Detectors;

namespace Moat.Detect.Response;

/// <summary>The record of one response: what was done to which sandbox, on what evidence, and whether an operator undid it.</summary>
public sealed record ResponseRecord(
    long Id,
    string SandboxId,
    TrustLevel Trust,
    ResponseAction Action,
    Alert Alert,
    DateTimeOffset AppliedAt)
{
    public DateTimeOffset? RevertedAt { get; init; }

    public string? RevertedBy { get; init; }

    public bool IsReverted => RevertedAt is not null;
}
