using Microsoft.Extensions.DependencyInjection;
using Moat.Host.Api;
using Moat.Host.Network;
using Moat.Host.Pool;
using Moat.Host.Runtime;
using Moat.Host.Sandboxes;

namespace Moat.Host.Agent;

/// <summary>What this host is and holds (<see cref="HostStatus"/>), for the local API (GET /v1/host) and the fabric.</summary>
public sealed class HostStatusReporter(HostAgentOptions options, RuntimeRegistry runtimes, SandboxService sandboxes, WarmPool pool,
    ISandboxContainment containment, IServiceProvider services)
{
    private readonly Lazy<HostFeatures> _features = new(() => HostFeatures.Read(runtimes.Status));

    /// <summary>This host's features (read once: they do not change while the agent runs).</summary>
    public HostFeatures Features => _features.Value;

    /// <summary>The agent's last reconciliation, set once it has run at start.</summary>
    public ReconcileReport? LastReconcile { get; set; }

    public HostStatus Status() => new(
        HostAgent.Version, options.Runtime, options.StateDir, options.AddressPool, options.HostNamespace, sandboxes.Store.HeldCount(),
        pool.Status(), LastReconcile ?? new ReconcileReport(0, 0, 0, 0, 0))
    {
        Tiers = runtimes.Status,
        Containment = containment.Mechanism,
        FlowLog = services.GetService<FlowLogService>()?.Status ?? "off (containment is off)",
        Shaping = (containment as NftablesContainment)?.Shaping ?? "off (containment is off)",
        Tunnels = (containment as NftablesContainment)?.Tunnels ?? "off (containment is off)",
        Features = Features,
    };
}
