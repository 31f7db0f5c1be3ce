using System.Collections.Concurrent;
using System.Text.Json;
using Moat.Control.Metrics;
using Moat.Host.Api;
using Moat.Host.Fabric;
using Moat.Host.Runtime;
using Moat.Host.Sandboxes;

namespace Moat.Control.Hosts;

/// <summary>The fabric as the control plane uses it: one <see cref="FabricClient"/> session, every call timed as a round trip.</summary>
public sealed class XmppHostFabric(FabricClient client, ControlMetrics metrics) : IHostFabric, IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, IReadOnlyList<string>> tiers = new(StringComparer.OrdinalIgnoreCase);

    public FabricClient Client => client;

    public IReadOnlyCollection<FabricProtocol.HostPresence> Hosts => client.Hosts;

    /// <summary>Opens the session and asks to see each host's presence.</summary>
    public static async Task<XmppHostFabric> OpenAsync(ControlOptions options, ControlMetrics metrics, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var fabric = await FabricClient.OpenAsync(options.Jid!, options.XmppServer, FabricOptions.ReadPassword(options.XmppPasswordFile!), options.Resource,
            cancellationToken).ConfigureAwait(false);
        var hosts = new XmppHostFabric(fabric, metrics);
        // A host that restarts answers with new tiers perhaps; its presence going away forgets what it said.
        fabric.HostChanged += h =>
        {
            if (!h.Available)
            {
                hosts.tiers.TryRemove(h.Jid, out _);
            }
        };
        foreach (var host in options.Hosts)
        {
            await fabric.WatchAsync(host, cancellationToken).ConfigureAwait(false);
        }

        return hosts;
    }

    public async Task<IReadOnlyList<string>> TiersAsync(string host, CancellationToken cancellationToken = default)
    {
        if (tiers.TryGetValue(host, out var known))
        {
            return known;
        }

        var status = await StatusAsync(host, cancellationToken).ConfigureAwait(false);
        var list = new List<string>();
        if (status.ValueKind == JsonValueKind.Object && status.TryGetProperty("tiers", out var t) && t.ValueKind == JsonValueKind.Array)
        {
            foreach (var tier in t.EnumerateArray())
            {
                if (tier.TryGetProperty("available", out var a) && a.ValueKind == JsonValueKind.True && tier.TryGetProperty("tier", out var name))
                {
                    list.Add(name.ToString());
                }
            }
        }

        tiers[host] = list;
        return list;
    }

    public Task<JsonElement> StatusAsync(string host, CancellationToken cancellationToken = default) =>
        TimedAsync("host", () => client.CallAsync<JsonElement>(host, "host", null, null, cancellationToken));

    public Task<ClaimResponse> ClaimAsync(string host, SandboxSpec spec, CancellationToken cancellationToken = default) =>
        TimedAsync("claim", () => client.ClaimAsync(host, spec, cancellationToken));

    public Task<Sandbox> CreateAsync(string host, SandboxSpec spec, CancellationToken cancellationToken = default) =>
        TimedAsync("create", () => client.CreateAsync(host, spec, cancellationToken));

    public Task<ExecResult> ExecAsync(string host, string reference, IReadOnlyList<string> command, double timeoutSeconds, CancellationToken cancellationToken = default) =>
        TimedAsync("exec", () => client.ExecAsync(host, reference, command, timeoutSeconds, cancellationToken));

    public Task StopAsync(string host, string reference, CancellationToken cancellationToken = default) =>
        TimedAsync("stop", () => client.CallAsync<JsonElement>(host, "stop", reference, new FabricProtocol.StopBody(), cancellationToken));

    public Task DestroyAsync(string host, string reference, CancellationToken cancellationToken = default) =>
        TimedAsync("rm", async () =>
        {
            await client.DestroyAsync(host, reference, cancellationToken).ConfigureAwait(false);
            return true;
        });

    public Task QuarantineAsync(string host, string reference, bool quarantine, CancellationToken cancellationToken = default) =>
        TimedAsync(quarantine ? "quarantine" : "release", () => client.CallAsync<JsonElement>(host, quarantine ? "quarantine" : "release", reference, null, cancellationToken));

    public ValueTask DisposeAsync() => client.DisposeAsync();

    private async Task<T> TimedAsync<T>(string op, Func<Task<T>> call)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        string outcome = "error";
        try
        {
            var result = await call().ConfigureAwait(false);
            outcome = "ok";
            return result;
        }
        catch (FabricCallException e)
        {
            outcome = e.Condition;
            throw;
        }
        finally
        {
            metrics.FabricRoundTrip.WithLabels(op, outcome).Observe(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }
}
