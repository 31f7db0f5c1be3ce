using Moat.Control.Api;
using Moat.Control.Auth;
using Moat.Control.Hosts;
using Moat.Control.Metrics;
using Moat.Control.Store;
using Moat.Host.Fabric;
using Moat.Host.Sandboxes;

namespace Moat.Control;

/// <summary>
/// What the API does, apart from HTTP: clients and their keys, sandboxes placed on hosts over the fabric and kept in
/// the store, each client confined to its own. Another client's sandbox is answered exactly like one that does not
/// exist (<see cref="NoSuchSandbox"/>).
/// </summary>
public sealed class ControlService(IControlStore store, IHostFabric? fabric, ControlMetrics metrics, TimeProvider time)
{
    /// <summary>The one answer for a sandbox the caller may not see, whether or not it exists.</summary>
    public const string NoSuchSandbox = "no such sandbox: give the id (sb-…) or name of one of your sandboxes; GET /v1/sandboxes lists them.";

    public IControlStore Store => store;

    // ---- clients and keys ----

    public async Task<ClientRecord> AddClientAsync(string name, string trust, CancellationToken cancellationToken = default)
    {
        var client = new ClientRecord(Names.ClientName(name), Names.Trust(trust), time.GetUtcNow());
        return await store.AddClientAsync(client, cancellationToken).ConfigureAwait(false)
            ? client
            : throw new ControlConflictException($"client '{name}' exists already: change its trust with PUT /v1/clients/{name}.");
    }

    public async Task SetTrustAsync(string name, string trust, CancellationToken cancellationToken = default)
    {
        if (!await store.SetTrustAsync(name, Names.Trust(trust), cancellationToken).ConfigureAwait(false))
        {
            throw new ControlNotFoundException($"no client '{Names.Show(name)}': GET /v1/clients lists them.");
        }
    }

    /// <summary>Makes a key for an existing client; the key text is returned this once.</summary>
    public async Task<(string Key, KeyRecord Record)> CreateKeyAsync(string client, bool admin, TimeSpan? lifetime, CancellationToken cancellationToken = default)
    {
        if (lifetime is { } l && (l <= TimeSpan.Zero || l > TimeSpan.FromDays(3660)))
        {
            throw new ControlInputException($"expiry {l.TotalDays} days is not valid: give more than 0 and at most 3660 days, or none.");
        }

        if (await store.GetClientAsync(client, cancellationToken).ConfigureAwait(false) is null)
        {
            throw new ControlNotFoundException($"no client '{Names.Show(client)}': add it first (POST /v1/clients or 'moat control client add').");
        }

        var now = time.GetUtcNow();
        var made = ApiKeys.Create(client, admin ? KeyScope.Admin : KeyScope.Client, now, lifetime is null ? null : now + lifetime.Value);
        await store.AddKeyAsync(made.Record, cancellationToken).ConfigureAwait(false);
        return made;
    }

    /// <summary>The caller a key speaks for, or null (with why) when it is missing, malformed, unknown, expired or revoked.</summary>
    public async Task<(Caller? Caller, string Reason)> AuthenticateAsync(string? key, CancellationToken cancellationToken = default)
    {
        if (key is null)
        {
            return (null, "missing");
        }

        if (!ApiKeys.TryParseId(key, out var id))
        {
            return (null, "malformed");
        }

        var record = await store.GetKeyAsync(id, cancellationToken).ConfigureAwait(false);
        if (record is null || !ApiKeys.Matches(key, record))
        {
            return (null, "unknown");
        }

        if (record.RevokedAt is not null)
        {
            return (null, "revoked");
        }

        return record.ExpiresAt is { } expires && expires <= time.GetUtcNow()
            ? (null, "expired")
            : (new Caller(record.Id, record.Client, record.Scope), "ok");
    }

    // ---- sandboxes ----

    public async Task<IReadOnlyList<SandboxRecord>> ListAsync(Caller caller, string? client, CancellationToken cancellationToken = default) =>
        await store.ListSandboxesAsync(caller.IsAdmin ? client : caller.Client, cancellationToken).ConfigureAwait(false);

    /// <summary>The caller's sandbox by id or name; anything else is <see cref="NoSuchSandbox"/>.</summary>
    public async Task<SandboxRecord> ResolveAsync(Caller caller, string reference, CancellationToken cancellationToken = default)
    {
        SandboxRecord? found = null;
        if (Names.IsSandboxId(reference))
        {
            found = await store.GetSandboxAsync(reference, cancellationToken).ConfigureAwait(false);
        }
        else if (reference.Length <= Names.MaxName)
        {
            found = await store.FindSandboxByNameAsync(caller.Client, reference, cancellationToken).ConfigureAwait(false);
        }

        return found is not null && (caller.IsAdmin || found.Client == caller.Client) ? found : throw new ControlNotFoundException(NoSuchSandbox);
    }

    /// <summary>Places a sandbox for the caller's client on a host that gives its trust's tier and has room, and records it.</summary>
    public async Task<ClaimView> ClaimAsync(Caller caller, ClaimRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var started = time.GetTimestamp();
        bool fromPool = false;
        string outcome = "error";
        bool pool = request.Pool ?? true;
        try
        {
            var owner = request.Client is null ? caller.Client
                : caller.IsAdmin ? Names.ClientName(request.Client)
                : request.Client == caller.Client ? request.Client
                : throw new ControlInputException("'client' is for administrators: leave it out, and the sandbox is your key's client's.");
            var client = await store.GetClientAsync(owner, cancellationToken).ConfigureAwait(false)
                ?? throw new ControlNotFoundException($"no client '{owner}': add it first.");
            var spec = Spec(request, client.Trust);
            var hosts = await PlaceAsync(spec, client.Trust, pool, cancellationToken).ConfigureAwait(false);
            var record = new SandboxRecord(spec.Name!, owner, request.Name is null ? null : Names.SandboxName(request.Name), hosts[0], spec.Image,
                client.Trust, "placing", spec.Tier?.Name(), null, false, time.GetUtcNow());
            if (!await store.AddSandboxAsync(record, cancellationToken).ConfigureAwait(false))
            {
                throw new ControlConflictException($"you have a sandbox named '{request.Name}' already: pick another name, or remove that one.");
            }

            // The first host that takes it; one with no room left since its last presence says so, and the next is asked.
            for (int i = 0; ; i++)
            {
                record = record with { Host = hosts[i] };
                try
                {
                    Sandbox placed;
                    double hostMs = 0;
                    if (pool)
                    {
                        var answer = await fabric!.ClaimAsync(hosts[i], spec, cancellationToken).ConfigureAwait(false);
                        (placed, fromPool, hostMs) = (answer.Sandbox, answer.FromPool, answer.ElapsedMs);
                    }
                    else
                    {
                        placed = await fabric!.CreateAsync(hosts[i], spec, cancellationToken).ConfigureAwait(false);
                    }

                    record = record with { State = placed.State.ToString().ToLowerInvariant(), Tier = placed.Tier.Name(), Address = placed.Address };
                    await store.UpdateSandboxAsync(record, cancellationToken).ConfigureAwait(false);
                    outcome = "ok";
                    return new ClaimView(SandboxView.Of(record), fromPool, time.GetElapsedTime(started).TotalMilliseconds, hostMs);
                }
                catch (FabricCallException e) when (e.Condition is "resource-constraint" or "service-unavailable" or "remote-server-not-found" && i + 1 < hosts.Count)
                {
                    // Another host may have room.
                }
                catch
                {
                    await store.RemoveSandboxAsync(record.Id, CancellationToken.None).ConfigureAwait(false);
                    throw;
                }
            }
        }
        finally
        {
            var seconds = time.GetElapsedTime(started).TotalSeconds;
            if (pool)
            {
                metrics.Claim.WithLabels(outcome, fromPool ? "true" : "false").Observe(seconds);
            }
            else
            {
                metrics.Create.WithLabels(outcome).Observe(seconds);
            }
        }
    }

    private static SandboxSpec Spec(ClaimRequest request, string trust)
    {
        if (request.MemoryMb is < 16 or > 1024 * 1024)
        {
            throw new ControlInputException($"memoryMb {request.MemoryMb} is not valid: give 16 to 1048576.");
        }

        if (request.Cpus is { } cpus && (double.IsNaN(cpus) || cpus is < 0.01 or > 1024))
        {
            throw new ControlInputException($"cpus {request.Cpus} is not valid: give 0.01 to 1024 cores.");
        }

        if (request.Image is { } image && (image.Length is 0 or > 128 || image.Any(c => char.IsControl(c) || char.IsWhiteSpace(c))))
        {
            throw new ControlInputException($"image '{Names.Show(image)}' is not valid: give an image name of 1 to 128 characters, no spaces.");
        }

        RuntimeTier? tier = request.Tier switch
        {
            null => null,
            "container" => RuntimeTier.Container,
            "gvisor" => RuntimeTier.Gvisor,
            _ => throw new ControlInputException($"tier '{Names.Show(request.Tier)}' is not valid: use container or gvisor, or leave it out."),
        };
        if (request.Name is not null)
        {
            Names.SandboxName(request.Name);
        }

        // On the host the sandbox is named by its control-plane id: names are the client's, unique per client, not per host.
        return new SandboxSpec
        {
            Name = Names.NewSandboxId(),
            Image = request.Image ?? SandboxSpec.Default.Image,
            MemoryBytes = (request.MemoryMb ?? 256) * SandboxSpec.MiB,
            Cpus = request.Cpus ?? 1.0,
            Trust = trust,
            Tier = tier,
        };
    }

    /// <summary>Hosts that can take the spec, best first: online, offering the tier the trust needs, with memory for it;
    /// then (for a claim) those with a warm sandbox ready, then the most free memory.</summary>
    private async Task<IReadOnlyList<string>> PlaceAsync(SandboxSpec spec, string trust, bool pool, CancellationToken cancellationToken)
    {
        if (fabric is null)
        {
            throw new ControlUnavailableException("this control plane is not on the fabric: start it with --xmpp JID --xmpp-password-file FILE --host HOST-JID.");
        }

        var online = fabric.Hosts.ToList();
        if (online.Count == 0)
        {
            throw new ControlUnavailableException("no host agent is online on the fabric: start one with 'moat host --xmpp … --xmpp-admin <this control plane's JID>'.");
        }

        var tier = (spec.Tier ?? (trust == "untrusted" ? RuntimeTier.Gvisor : RuntimeTier.Container)).Name();
        var fits = new List<FabricProtocol.HostPresence>();
        foreach (var h in online.Where(h => h.FreeMemoryMb * SandboxSpec.MiB >= spec.MemoryBytes))
        {
            try
            {
                if ((await fabric.TiersAsync(h.Jid, cancellationToken).ConfigureAwait(false)).Contains(tier))
                {
                    fits.Add(h);
                }
            }
            catch (FabricCallException)
            {
                // A host that does not answer its status is not placed on.
            }
        }

        if (fits.Count == 0)
        {
            throw new ControlUnavailableException(
                $"no online host offers the {tier} tier ({trust} clients get it) with {spec.MemoryBytes / SandboxSpec.MiB} MiB free; {online.Count} host(s) online.");
        }

        return
        [
            .. fits.OrderByDescending(h => pool && tier == "container" && h.PoolReady > 0).ThenByDescending(h => h.FreeMemoryMb).ThenBy(h => h.Sandboxes)
                .Select(h => h.Jid),
        ];
    }

    public async Task<Moat.Host.Runtime.ExecResult> ExecAsync(Caller caller, string reference, ExecRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var s = await ResolveAsync(caller, reference, cancellationToken).ConfigureAwait(false);
        if (request.Command is null || request.Command.Count == 0 || request.Command.Any(a => a is null) || request.Command.Count > 4096
            || request.Command.Sum(a => a.Length) > 64 * 1024)
        {
            throw new ControlInputException("'command' must be the program and its arguments: 1 to 4096 strings, none null, 64 KiB in all.");
        }

        var timeout = request.TimeoutSeconds ?? 60;
        if (double.IsNaN(timeout) || timeout is <= 0 or > 3600)
        {
            throw new ControlInputException($"timeoutSeconds {timeout} is not valid: give more than 0 and at most 3600.");
        }

        return await Fabric.ExecAsync(s.Host, s.Id, request.Command, timeout, cancellationToken).ConfigureAwait(false);
    }

    public async Task<SandboxRecord> StopAsync(Caller caller, string reference, CancellationToken cancellationToken = default)
    {
        var s = await ResolveAsync(caller, reference, cancellationToken).ConfigureAwait(false);
        await Fabric.StopAsync(s.Host, s.Id, cancellationToken).ConfigureAwait(false);
        var stopped = s with { State = "stopped" };
        await store.UpdateSandboxAsync(stopped, cancellationToken).ConfigureAwait(false);
        return stopped;
    }

    public async Task<SandboxRecord> RemoveAsync(Caller caller, string reference, CancellationToken cancellationToken = default)
    {
        var s = await ResolveAsync(caller, reference, cancellationToken).ConfigureAwait(false);
        try
        {
            await Fabric.DestroyAsync(s.Host, s.Id, cancellationToken).ConfigureAwait(false);
        }
        catch (FabricCallException e) when (e.Condition == "item-not-found")
        {
            // Gone from its host already (removed there by hand, or the host lost it): forgetting it is what was asked.
        }

        await store.RemoveSandboxAsync(s.Id, cancellationToken).ConfigureAwait(false);
        return s;
    }

    /// <summary>Quarantines (any owner or administrator) or lifts a quarantine (administrators only: a detector may have put it there).</summary>
    public async Task<SandboxRecord> QuarantineAsync(Caller caller, string reference, bool quarantine, CancellationToken cancellationToken = default)
    {
        var s = await ResolveAsync(caller, reference, cancellationToken).ConfigureAwait(false);
        if (!quarantine && !caller.IsAdmin)
        {
            throw new ControlForbiddenException("lifting a quarantine is for administrators: a detector or an administrator may have put it there.");
        }

        await Fabric.QuarantineAsync(s.Host, s.Id, quarantine, cancellationToken).ConfigureAwait(false);
        var changed = s with { Quarantined = quarantine };
        await store.UpdateSandboxAsync(changed, cancellationToken).ConfigureAwait(false);
        return changed;
    }

    private IHostFabric Fabric => fabric ?? throw new ControlUnavailableException("this control plane is not on the fabric: start it with --xmpp JID --xmpp-password-file FILE --host HOST-JID.");
}
