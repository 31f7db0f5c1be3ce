namespace Moat.Monitor.Inventory;

/// <summary>One application (binary or script) seen running in a sandbox, with the package it came from.</summary>
public sealed record InventoryEntry(
    string SandboxId,
    string Kind,
    string? Path,
    string? Sha256,
    string? BuildId,
    string? Ecosystem,
    string? Package,
    string? Version,
    bool Drift,
    long Executions,
    DateTimeOffset FirstSeen,
    DateTimeOffset LastSeen);
