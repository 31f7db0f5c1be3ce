using Moat.Host.Api;
using Moat.Host.Fabric;
using Moat.Host.Runtime;
using Moat.Host.Sandboxes;

namespace Moat.Control.Hosts;

/// <summary>
/// The control plane's only road to host agents: the XMPP fabric (<see cref="XmppHostFabric"/>). Hosts dial out, so
/// hosts behind NAT are driven like any other. A host's refusal is a <see cref="FabricCallException"/>.
/// </summary>
public interface IHostFabric
{
    /// <summary>Hosts online now, as their presence describes them.</summary>
    IReadOnlyCollection<FabricProtocol.HostPresence> Hosts { get; }

    /// <summary>The runtime tiers a host offers (asked once per host session and kept).</summary>
    Task<IReadOnlyList<string>> TiersAsync(string host, CancellationToken cancellationToken = default);

    /// <summary>The host's full status (the agent's GET /v1/host), as JSON.</summary>
    Task<System.Text.Json.JsonElement> StatusAsync(string host, CancellationToken cancellationToken = default);

    Task<ClaimResponse> ClaimAsync(string host, SandboxSpec spec, CancellationToken cancellationToken = default);

    Task<Sandbox> CreateAsync(string host, SandboxSpec spec, CancellationToken cancellationToken = default);

    Task<ExecResult> ExecAsync(string host, string reference, IReadOnlyList<string> command, double timeoutSeconds, CancellationToken cancellationToken = default);

    Task StopAsync(string host, string reference, CancellationToken cancellationToken = default);

    Task DestroyAsync(string host, string reference, CancellationToken cancellationToken = default);

    Task QuarantineAsync(string host, string reference, bool quarantine, CancellationToken cancellationToken = default);
}
