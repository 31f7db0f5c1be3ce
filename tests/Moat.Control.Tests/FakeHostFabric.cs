using System.Collections.Concurrent;
using System.Text.Json;
using Moat.Control.Hosts;
using Moat.Host.Api;
using Moat.Host.Fabric;
using Moat.Host.Runtime;
using Moat.Host.Sandboxes;

namespace Moat.Control.Tests;

/// <summary>A fabric of pretend hosts for the HTTP layer's tests (no agent, no XMPP); the integration tests use the real one.</summary>
internal sealed class FakeHostFabric : IHostFabric
{
    public ConcurrentDictionary<string, FabricProtocol.HostPresence> Online { get; } = new();

    public ConcurrentDictionary<string, IReadOnlyList<string>> HostTiers { get; } = new();

    /// <summary>Sandboxes each host holds, by host-side name.</summary>
    public ConcurrentDictionary<string, (string Host, SandboxSpec Spec, bool Quarantined)> Sandboxes { get; } = new();

    public ConcurrentQueue<string> Calls { get; } = new();

    public IReadOnlyCollection<FabricProtocol.HostPresence> Hosts => Online.Values.ToList();

    public FakeHostFabric AddHost(string jid, long freeMb = 8192, int poolReady = 1, params string[] tiers)
    {
        Online[jid] = new FabricProtocol.HostPresence(jid, true, 0, poolReady, poolReady, freeMb, "test");
        HostTiers[jid] = tiers.Length == 0 ? ["container", "gvisor"] : tiers;
        return this;
    }

    public Task<IReadOnlyList<string>> TiersAsync(string host, CancellationToken cancellationToken = default) => Task.FromResult(HostTiers[host]);

    public Task<JsonElement> StatusAsync(string host, CancellationToken cancellationToken = default) =>
        Task.FromResult(JsonSerializer.SerializeToElement(new { jid = host, tiers = HostTiers[host] }));

    public Task<ClaimResponse> ClaimAsync(string host, SandboxSpec spec, CancellationToken cancellationToken = default)
    {
        Calls.Enqueue($"claim {host} {spec.Name} trust={spec.Trust}");
        return Task.FromResult(new ClaimResponse(Place(host, spec), true, 1.0));
    }

    public Task<Sandbox> CreateAsync(string host, SandboxSpec spec, CancellationToken cancellationToken = default)
    {
        Calls.Enqueue($"create {host} {spec.Name} trust={spec.Trust}");
        return Task.FromResult(Place(host, spec));
    }

    public Task<ExecResult> ExecAsync(string host, string reference, IReadOnlyList<string> command, double timeoutSeconds, CancellationToken cancellationToken = default)
    {
        Calls.Enqueue($"exec {host} {reference} {string.Join(' ', command)}");
        return Sandboxes.ContainsKey(reference)
            ? Task.FromResult(new ExecResult(0, string.Join(' ', command) + "\n", string.Empty))
            : throw new FabricCallException("item-not-found", "no such sandbox");
    }

    public Task StopAsync(string host, string reference, CancellationToken cancellationToken = default)
    {
        Calls.Enqueue($"stop {host} {reference}");
        return Task.CompletedTask;
    }

    public Task DestroyAsync(string host, string reference, CancellationToken cancellationToken = default)
    {
        Calls.Enqueue($"rm {host} {reference}");
        return Sandboxes.TryRemove(reference, out _) ? Task.CompletedTask : throw new FabricCallException("item-not-found", "no such sandbox");
    }

    public Task QuarantineAsync(string host, string reference, bool quarantine, CancellationToken cancellationToken = default)
    {
        Calls.Enqueue($"{(quarantine ? "quarantine" : "release")} {host} {reference}");
        Sandboxes[reference] = Sandboxes[reference] with { Quarantined = quarantine };
        return Task.CompletedTask;
    }

    private Sandbox Place(string host, SandboxSpec spec)
    {
        var tier = spec.Tier ?? (spec.Trust == "untrusted" ? RuntimeTier.Gvisor : RuntimeTier.Container);
        Sandboxes[spec.Name!] = (host, spec with { Tier = tier }, false);
        return new Sandbox
        {
            Id = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()),
            Name = spec.Name,
            Spec = spec with { Tier = tier },
            ImageDigest = "sha256:00",
            State = SandboxState.Running,
            Address = "198.18.0.2",
            CreatedAt = DateTimeOffset.UnixEpoch,
            Tier = tier,
        };
    }
}
