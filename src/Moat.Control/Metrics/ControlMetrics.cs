using Prometheus;

namespace Moat.Control.Metrics;

/// <summary>The control plane's Prometheus series, in a registry of its own (several control planes may share a process in tests).</summary>
public sealed class ControlMetrics
{
    private static readonly double[] LatencyBuckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    public ControlMetrics()
    {
        Registry = Prometheus.Metrics.NewCustomRegistry();
        var f = Prometheus.Metrics.WithCustomRegistry(Registry);
        Requests = f.CreateCounter("moat_control_api_requests_total", "HTTP API requests answered, by route template, method and status.",
            "route", "method", "status");
        Claim = f.CreateHistogram("moat_control_claim_seconds", "Sandbox claims through the API (placement, store, fabric round trip, host), by outcome.",
            new HistogramConfiguration { LabelNames = ["outcome", "from_pool"], Buckets = LatencyBuckets });
        Create = f.CreateHistogram("moat_control_create_seconds", "Sandbox creations (no warm pool) through the API, by outcome.",
            new HistogramConfiguration { LabelNames = ["outcome"], Buckets = LatencyBuckets });
        FabricRoundTrip = f.CreateHistogram("moat_control_fabric_round_trip_seconds", "One host operation over the XMPP fabric, request to answer, by operation and outcome.",
            new HistogramConfiguration { LabelNames = ["op", "outcome"], Buckets = LatencyBuckets });
        AuthFailures = f.CreateCounter("moat_control_auth_failures_total", "Requests under /v1/ refused for a missing, malformed, unknown, expired or revoked key.", "reason");
        RateLimited = f.CreateCounter("moat_control_rate_limited_total", "Requests refused with 429, by partition kind (key or address).", "kind");
        Sandboxes = f.CreateGauge("moat_control_sandboxes", "Sandboxes the control plane handed out, by tier, state and trust.", "tier", "state", "trust");
        HostsOnline = f.CreateGauge("moat_control_hosts_online", "Host agents whose presence is available on the fabric.");
        HostPoolReady = f.CreateGauge("moat_control_host_pool_ready", "Warm sandboxes ready on each host, from its presence.", "host");
        HostPoolTarget = f.CreateGauge("moat_control_host_pool_target", "Warm pool target of each host, from its presence.", "host");
        HostFreeMemory = f.CreateGauge("moat_control_host_free_memory_bytes", "Memory available on each host, from its presence.", "host");
        Audit = f.CreateCounter("moat_control_audit_entries_total", "State-changing calls recorded in the audit log, by action and outcome.", "action", "outcome");
    }

    public CollectorRegistry Registry { get; }

    public Counter Requests { get; }

    public Histogram Claim { get; }

    public Histogram Create { get; }

    public Histogram FabricRoundTrip { get; }

    public Counter AuthFailures { get; }

    public Counter RateLimited { get; }

    public Gauge Sandboxes { get; }

    public Gauge HostsOnline { get; }

    public Gauge HostPoolReady { get; }

    public Gauge HostPoolTarget { get; }

    public Gauge HostFreeMemory { get; }

    public Counter Audit { get; }
}
