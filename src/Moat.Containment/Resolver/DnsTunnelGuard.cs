using System.Net;
using Moat.Detect.Detectors;

namespace Moat.Containment.Resolver;

/// <summary>Thresholds of <see cref="DnsTunnelGuard"/>.</summary>
public sealed record DnsTunnelOptions
{
    /// <summary>A name whose part under its base domain is at least this long counts as a possible tunnel message.</summary>
    public int LongPrefix { get; init; } = 20;

    /// <summary>Distinct long names under one base domain within <see cref="Window"/> that raise the alert.</summary>
    public int DistinctNames { get; init; } = 24;

    public TimeSpan Window { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>How long a caught domain stays limited for that sandbox.</summary>
    public TimeSpan LimitFor { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Queries under a caught domain let through per <see cref="Window"/> while it is limited.</summary>
    public int LimitedQueries { get; init; } = 5;

    /// <summary>Base domains remembered per sandbox (the oldest is forgotten past it), so memory stays bounded.</summary>
    public int DomainsPerSandbox { get; init; } = 1024;

    public static DnsTunnelOptions Default { get; } = new();
}

/// <summary>
/// Catches DNS used as a tunnel — many long, distinct names under one domain, the shape of iodine and dnscat2 —
/// per sandbox: past <see cref="DnsTunnelOptions.DistinctNames"/> in a window it raises one alert (kind
/// <see cref="Kind"/>) and limits that domain's queries for a while. State is bounded per sandbox; time is injected.
/// </summary>
public sealed class DnsTunnelGuard(DnsTunnelOptions options, TimeProvider time)
{
    /// <summary>The alert kind (detector name) a response policy maps.</summary>
    public const string Kind = "dns-tunnel";

    private readonly Dictionary<string, Dictionary<string, Domain>> _sandboxes = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>
    /// Counts one query of <paramref name="sandboxId"/> for <paramref name="name"/> (lower case); false when its
    /// domain is limited and the query is over budget. <paramref name="alert"/> is set the moment the domain is caught.
    /// </summary>
    public bool Observe(string sandboxId, IPAddress source, string name, out Alert? alert)
    {
        ArgumentNullException.ThrowIfNull(name);
        alert = null;
        var now = time.GetUtcNow();
        var (baseDomain, prefixLength) = Split(name);
        lock (_lock)
        {
            if (!_sandboxes.TryGetValue(sandboxId, out var domains))
            {
                _sandboxes[sandboxId] = domains = new(StringComparer.Ordinal);
            }

            if (!domains.TryGetValue(baseDomain, out var d))
            {
                if (domains.Count >= options.DomainsPerSandbox)
                {
                    domains.Remove(domains.MinBy(p => p.Value.WindowStart).Key);
                }

                domains[baseDomain] = d = new Domain { WindowStart = now };
            }

            if (now - d.WindowStart >= options.Window)
            {
                d.WindowStart = now;
                d.Names.Clear();
                d.Queries = 0;
            }

            d.Queries++;
            if (prefixLength >= options.LongPrefix && d.Names.Count < options.DistinctNames)
            {
                d.Names.Add(name);
                if (d.Names.Count == options.DistinctNames && now >= d.LimitedUntil)
                {
                    d.LimitedUntil = now + options.LimitFor;
                    alert = new Alert(
                        Kind,
                        source,
                        baseDomain,
                        new Dictionary<string, long> { ["distinct-long-names"] = d.Names.Count, ["queries"] = d.Queries, ["window-seconds"] = (long)options.Window.TotalSeconds },
                        now,
                        $"Sandbox {sandboxId} asked for {d.Names.Count} distinct long names under {baseDomain} within {options.Window.TotalSeconds:0} s (DNS used as a tunnel); its queries under {baseDomain} are limited to {options.LimitedQueries} per window for {options.LimitFor.TotalMinutes:0} min.")
                    {
                        SandboxId = sandboxId,
                    };
                    d.Queries = 1;
                }
            }

            return now >= d.LimitedUntil || d.Queries <= options.LimitedQueries;
        }
    }

    /// <summary>Forgets a sandbox (destroyed).</summary>
    public void Forget(string sandboxId)
    {
        lock (_lock)
        {
            _sandboxes.Remove(sandboxId);
        }
    }

    /// <summary>The base domain (the last two labels; no public-suffix list) and the length of what is under it.</summary>
    internal static (string Base, int PrefixLength) Split(string name)
    {
        var last = name.LastIndexOf('.');
        if (last <= 0)
        {
            return (name, 0);
        }

        var second = name.LastIndexOf('.', last - 1);
        return second < 0 ? (name, 0) : (name[(second + 1)..], second);
    }

    private sealed class Domain
    {
        public DateTimeOffset WindowStart { get; set; }

        public DateTimeOffset LimitedUntil { get; set; }

        public long Queries { get; set; }

        public HashSet<string> Names { get; } = new(StringComparer.Ordinal);
    }
}
