using Moat.Host.Pool;
using Moat.Host.Sandboxes;
using Prometheus;

namespace Moat.Host.Metrics;

/// <summary>
/// The host agent's Prometheus series, in a registry of its own (several agents share a process in tests and the MTD
/// lab). Sandboxes and pools are read when scraped; latencies are observed where they happen.
/// </summary>
public sealed class AgentMetrics
{
    private static readonly double[] LatencyBuckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
    private readonly HashSet<(string, string)> seenSandboxes = [];
    private readonly HashSet<string> seenPools = [];

    public AgentMetrics()
    {
        Registry = Prometheus.Metrics.NewCustomRegistry();
        var f = Prometheus.Metrics.WithCustomRegistry(Registry);
        Sandboxes = f.CreateGauge("moat_host_sandboxes", "Sandboxes handed out on this host (warm pool members excluded), by runtime tier and state.", "tier", "state");
        PoolReady = f.CreateGauge("moat_host_pool_ready", "Warm sandboxes ready to be claimed, by image.", "image");
        PoolTarget = f.CreateGauge("moat_host_pool_target", "Warm pool target, by image.", "image");
        Claim = f.CreateHistogram("moat_host_claim_seconds", "Sandbox claims on this host, from request to a running sandbox, by path (socket or fabric) and whether a warm one was taken.",
            new HistogramConfiguration { LabelNames = ["path", "from_pool"], Buckets = LatencyBuckets });
        Create = f.CreateHistogram("moat_host_create_seconds", "Sandbox creations on this host (no warm pool), by path (socket or fabric).",
            new HistogramConfiguration { LabelNames = ["path"], Buckets = LatencyBuckets });
        FabricRequests = f.CreateCounter("moat_host_fabric_requests_total", "Sandbox operations received over the XMPP fabric, by operation and outcome.", "op", "outcome");
    }

    public CollectorRegistry Registry { get; }

    public Gauge Sandboxes { get; }

    public Gauge PoolReady { get; }

    public Gauge PoolTarget { get; }

    public Histogram Claim { get; }

    public Histogram Create { get; }

    public Counter FabricRequests { get; }

    /// <summary>Reads sandboxes and pools at every scrape; a state or pool that emptied reads 0 rather than vanishing.</summary>
    public void Watch(SandboxService sandboxes, WarmPool pool)
    {
        ArgumentNullException.ThrowIfNull(sandboxes);
        ArgumentNullException.ThrowIfNull(pool);
        Registry.AddBeforeCollectCallback(() =>
        {
            var counts = sandboxes.List().Where(s => s.PoolImage is null)
                .GroupBy(s => (s.Tier.Name(), s.State.ToString().ToLowerInvariant())).ToDictionary(g => g.Key, g => g.Count());
            lock (seenSandboxes)
            {
                seenSandboxes.UnionWith(counts.Keys);
                foreach (var key in seenSandboxes)
                {
                    Sandboxes.WithLabels(key.Item1, key.Item2).Set(counts.GetValueOrDefault(key));
                }

                var pools = pool.Status();
                seenPools.UnionWith(pools.Select(p => p.Image));
                foreach (var image in seenPools)
                {
                    var p = pools.FirstOrDefault(x => x.Image == image);
                    PoolReady.WithLabels(image).Set(p?.Ready ?? 0);
                    PoolTarget.WithLabels(image).Set(p?.Target ?? 0);
                }
            }
        });
    }
}
