namespace Moat.Monitor.Vulnerabilities;

/// <summary>An OSV advisory, reduced to what matching needs.</summary>
public sealed record OsvAdvisory(string Id, string? Summary, IReadOnlyList<OsvAffected> Affected);

/// <summary>One affected package of an advisory: ecosystem (e.g. "Debian:12"), name, version ranges and listed versions.</summary>
public sealed record OsvAffected(string Ecosystem, string Name, IReadOnlyList<OsvRange> Ranges, IReadOnlyList<string> Versions);

/// <summary>A range of affected versions as ordered events.</summary>
public sealed record OsvRange(string Type, IReadOnlyList<OsvEvent> Events);

/// <summary>Exactly one of the fields is set.</summary>
public sealed record OsvEvent(string? Introduced, string? Fixed, string? LastAffected);

/// <summary>A package version found affected by an advisory.</summary>
public sealed record VulnerabilityMatch(string SandboxId, string Ecosystem, string Package, string Version, string AdvisoryId, string? Summary, string? FixedIn);
