using Moat.Host.Api;
using Moat.Host.Fabric;
using Moat.Host.Runtime;
using Moat.Host.Sandboxes;

namespace Moat.Control.Hosts;

/// <summary>The fabric of a control plane started without one: no hosts, and every host operation says how to join.</summary>
public sealed class NoHostFabric : IHostFabric
{
    public static readonly NoHostFabric Instance = new();

    private const string Why = "this control plane is not on the fabric: start it with --xmpp JID --xmpp-password-file FILE --host HOST-JID.";

    public IReadOnlyCollection<FabricProtocol.HostPresence> Hosts => [];

    public Task<IReadOnlyList<string>> TiersAsync(string host, CancellationToken cancellationToken = default) => throw new ControlUnavailableException(Why);

    public Task<System.Text.Json.JsonElement> StatusAsync(string host, CancellationToken cancellationToken = default) => throw new ControlUnavailableException(Why);

    public Task<ClaimResponse> ClaimAsync(string host, SandboxSpec spec, CancellationToken cancellationToken = default) => throw new ControlUnavailableException(Why);

    public Task<Sandbox> CreateAsync(string host, SandboxSpec spec, CancellationToken cancellationToken = default) => throw new ControlUnavailableException(Why);

    public Task<ExecResult> ExecAsync(string host, string reference, IReadOnlyList<string> command, double timeoutSeconds, CancellationToken cancellationToken = default) =>
        throw new ControlUnavailableException(Why);

    public Task StopAsync(string host, string reference, CancellationToken cancellationToken = default) => throw new ControlUnavailableException(Why);

    public Task DestroyAsync(string host, string reference, CancellationToken cancellationToken = default) => throw new ControlUnavailableException(Why);

    public Task QuarantineAsync(string host, string reference, bool quarantine, CancellationToken cancellationToken = default) => throw new ControlUnavailableException(Why);
}
