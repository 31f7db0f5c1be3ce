namespace Moat.Host.Watch;

/// <summary>A network detector's alert about a sandbox, as stored and shown by `moat alerts`.</summary>
public sealed record NetworkAlertView(
    long Id,
    DateTimeOffset Time,
    string SandboxId,
    string Detector,
    string Source,
    string Target,
    IReadOnlyDictionary<string, long> Evidence,
    string Message);

/// <summary>What the response policy did about an alert, and whether an operator undid it.</summary>
public sealed record ResponseView(
    long Id,
    long AlertId,
    string SandboxId,
    string Trust,
    string Action,
    DateTimeOffset AppliedAt,
    string Outcome)
{
    public DateTimeOffset? RevertedAt { get; init; }

    public string? RevertedBy { get; init; }

    /// <summary>Carried out, not yet undone, and something that can be undone (a "record" is only a record).</summary>
    public bool InForce => RevertedAt is null && Action != "record" && Outcome.StartsWith("done", StringComparison.Ordinal);
}

/// <summary>An exec rule's alert (drift, shell in a job sandbox, ...) from the exec monitor's store.</summary>
public sealed record ExecAlertView(DateTimeOffset Time, string SandboxId, string Rule, string Priority, string Description, int Pid, string? Path);

/// <summary>Answer of GET /v1/alerts.</summary>
public sealed record AlertsReport(IReadOnlyList<NetworkAlertView> Network, IReadOnlyList<ResponseView> Responses, IReadOnlyList<ExecAlertView> Exec);

/// <summary>Answer of GET /v1/watch: which sandboxes the watchers cover, which they cannot, and their counters.</summary>
public sealed record WatchStatus(
    bool Enabled,
    IReadOnlyList<string> ExecWatched,
    IReadOnlyDictionary<string, string> ExecUnobservable,
    long ExecRecords,
    long RuntimeExecs,
    long FlowEvents,
    long NetworkAlerts,
    string MonitorDatabase,
    string? Error);
