using Moat.Host.Sandboxes;

namespace Moat.Mtd.Relocation;

/// <summary>
/// What the relocation coordinator needs from one host. <see cref="AgentRelocationHost"/> carries it over the agent's
/// local API, <see cref="FabricRelocationHost"/> over the XMPP fabric; the coordinator does not know which.
/// </summary>
/// <remarks>Every failure of the host or of the path to it surfaces as <see cref="RelocationHostException"/>.</remarks>
public interface IRelocationHost
{
    /// <summary>The host's name in reports and placement.</summary>
    string Name { get; }

    /// <summary>What the host is (its host network namespace, address pool, sandbox count).</summary>
    Task<Moat.Host.Api.HostStatus> StatusAsync(CancellationToken cancellationToken = default);

    Task<IReadOnlyList<Sandbox>> ListAsync(CancellationToken cancellationToken = default);

    Task<SandboxDetails> InspectAsync(string sandbox, CancellationToken cancellationToken = default);

    /// <summary>Whether the host can checkpoint running sandboxes, per tier (CRIU for containers, runsc for gVisor), with
    /// the reason when not.</summary>
    Task<CheckpointSupport> CheckpointSupportAsync(CancellationToken cancellationToken = default);

    /// <summary>Saves a running sandbox's whole state (live move) and stops it; its next start, on this host or after its
    /// state was exported to another, restores it.</summary>
    Task<Sandbox> CheckpointAsync(string sandbox, CancellationToken cancellationToken = default);

    /// <summary>Makes a stopped copy from the source's manifest; fails before anything runs if the host cannot hold it.</summary>
    Task<Sandbox> ReserveAsync(SandboxManifest manifest, CancellationToken cancellationToken = default);

    Task<Sandbox> StopAsync(string sandbox, CancellationToken cancellationToken = default);

    Task<Sandbox> StartAsync(string sandbox, CancellationToken cancellationToken = default);

    Task DestroyAsync(string sandbox, CancellationToken cancellationToken = default);

    /// <summary>The tar stream of a stopped sandbox's writable layer and volume; a failed export ends it with an error.</summary>
    Task<Stream> ExportStateAsync(string sandbox, CancellationToken cancellationToken = default);

    /// <summary>Loads a state stream into a reserved sandbox and starts it.</summary>
    Task<ImportResult> ImportStateAsync(string sandbox, Stream archive, CancellationToken cancellationToken = default);

    /// <summary>The host watchers' latest alerts (at most <paramref name="limit"/> of each kind) about any of its
    /// sandboxes: what makes the scheduler move a victim away from a suspect.</summary>
    Task<Moat.Host.Watch.AlertsReport> AlertsAsync(int limit, CancellationToken cancellationToken = default);
}

/// <summary>A host refused an operation or could not be reached; the message names the host, the step and why.</summary>
public sealed class RelocationHostException(string host, string operation, string reason, Exception? inner = null)
    : MtdException((inner as MoatException)?.Kind ?? ErrorKind.Internal, $"host '{host}' could not {operation}: {reason}", inner)
{
    public string Host { get; } = host;

    /// <summary>The host answered with a refusal (HTTP 4xx), as opposed to failing or being unreachable.</summary>
    public bool Refused { get; init; }
}
