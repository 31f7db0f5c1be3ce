namespace Moat.Host.Sandboxes;

/// <summary>
/// The administrator's settings for runtime tiers: which trust level each client has (until network containment
/// supplies it, see <see cref="TierPolicy.TrustOf"/>), per-client tier overrides, and how runsc is run.
/// </summary>
public sealed record TierOptions
{
    public const string Trusted = "trusted";
    public const string SemiTrusted = "semi-trusted";
    public const string Untrusted = "untrusted";

    /// <summary>Trust level of local clients not named in <see cref="ClientTrust"/> (local root is an administrator).</summary>
    public string DefaultTrust { get; init; } = Trusted;

    /// <summary>Trust level of remote clients (named by a JID, user@domain: every fabric requester) not named in
    /// <see cref="ClientTrust"/>.</summary>
    public string RemoteDefaultTrust { get; init; } = Untrusted;

    /// <summary>Trust level per client (trusted, semi-trusted, untrusted).</summary>
    public IReadOnlyDictionary<string, string> ClientTrust { get; init; } = new Dictionary<string, string>();

    /// <summary>The administrator's tier per client, replacing the trust default (it may be weaker or stronger).</summary>
    public IReadOnlyDictionary<string, RuntimeTier> ClientTier { get; init; } = new Dictionary<string, RuntimeTier>();

    /// <summary>runsc binary for the gvisor tier.</summary>
    public string Runsc { get; init; } = "runsc";

    /// <summary>gVisor platform: ptrace is the one that runs on this kind of machine (no systrap in runsc 2022-12, no /dev/kvm).</summary>
    public string RunscPlatform { get; init; } = "ptrace";

    public static TierOptions Default { get; } = new();

    public void Validate()
    {
        foreach (var (client, trust) in ClientTrust.Append(new("(default)", DefaultTrust)).Append(new("(remote default)", RemoteDefaultTrust)))
        {
            if (trust is not (Trusted or SemiTrusted or Untrusted))
            {
                throw new InvalidRequestException(
                    $"trust level '{trust}' for client '{client}' is not valid: use trusted, semi-trusted or untrusted.");
            }
        }

        if (RunscPlatform is not ("ptrace" or "kvm"))
        {
            throw new InvalidRequestException($"runsc platform '{RunscPlatform}' is not valid here: use ptrace (or kvm where /dev/kvm works).");
        }
    }
}

/// <summary>
/// Chooses a sandbox's runtime tier: the administrator's tier for the client if set, otherwise the default for the
/// client's trust (untrusted → gvisor, else container). A client may ask for a stronger tier, never a weaker one.
/// </summary>
/// <param name="trustLevels">With containment: the trust levels its policy gives (see <see cref="TrustLevels"/>), read
/// again at every call because the policy reloads live; null = the levels of <paramref name="options"/>.</param>
public sealed class TierPolicy(TierOptions options, Func<SandboxSpec, string>? trustOf = null, Func<ClientTrustLevels>? trustLevels = null)
{
    public TierOptions Options => options;

    /// <summary>
    /// Every tier this host hands out without being asked for a stronger one: the floor of each client the policy
    /// names, of local clients it does not name, and (when the host takes requests from remote clients) of remote
    /// clients it does not name. What the warm pool keeps ready for an image whose pool names no tier.
    /// </summary>
    public IReadOnlySet<RuntimeTier> HandedOut(bool remoteClients)
    {
        var levels = trustLevels?.Invoke()
            ?? new ClientTrustLevels(options.ClientTrust, options.DefaultTrust, options.RemoteDefaultTrust);
        var tiers = new SortedSet<RuntimeTier>();
        foreach (var (client, trust) in levels.Named)
        {
            tiers.Add(Floor(client, trust));
        }

        // Clients the policy does not name have no tier of their own in ClientTier (it names them if it has one).
        tiers.Add(levels.DefaultTrust == TierOptions.Untrusted ? RuntimeTier.Gvisor : RuntimeTier.Container);
        if (remoteClients)
        {
            tiers.Add(levels.RemoteDefaultTrust == TierOptions.Untrusted ? RuntimeTier.Gvisor : RuntimeTier.Container);
        }

        foreach (var tier in options.ClientTier.Values)
        {
            tiers.Add(tier);
        }

        return tiers;
    }

    /// <summary>
    /// TRUST HOOK: the client's trust level. Network containment gives sandboxes a trust level of their own; when
    /// <see cref="SandboxSpec"/> carries it, return that here. Until then the administrator's per-client table decides.
    /// </summary>
    public string TrustOf(SandboxSpec spec) =>
        trustOf is not null ? trustOf(spec)
        : options.ClientTrust.TryGetValue(spec.Client, out var t) ? t
        : Moat.Containment.Policy.AdminPolicy.IsRemote(spec.Client) ? options.RemoteDefaultTrust
        : options.DefaultTrust;

    /// <summary>The least tier this host gives a client of this trust level.</summary>
    public RuntimeTier Floor(string client, string trust) =>
        options.ClientTier.TryGetValue(client, out var tier) ? tier
        : trust == TierOptions.Untrusted ? RuntimeTier.Gvisor
        : RuntimeTier.Container;

    /// <summary>The tier a sandbox gets; throws one sentence when the client asked for less than its floor.</summary>
    public RuntimeTier Select(SandboxSpec spec) => Select(spec.Client, TrustOf(spec), spec.Tier);

    public RuntimeTier Select(string client, string trust, RuntimeTier? requested)
    {
        var floor = Floor(client, trust);
        if (requested is null)
        {
            return floor;
        }

        if (requested.Value < floor)
        {
            throw new InvalidRequestException(
                $"tier '{requested.Value.Name()}' is weaker than '{floor.Name()}', the least this host gives client '{client}' ({trust}); ask for {floor.Name()} or stronger, or leave the tier out.");
        }

        return requested.Value;
    }
}

/// <summary>The trust levels a policy gives: each client it names, and the defaults for local and remote clients it does not.</summary>
public sealed record ClientTrustLevels(IReadOnlyDictionary<string, string> Named, string DefaultTrust, string RemoteDefaultTrust);
