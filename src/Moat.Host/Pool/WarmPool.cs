using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Moat.Host.Sandboxes;

namespace Moat.Host.Pool;

/// <summary>How full the warm pool of one image and runtime tier is.</summary>
public sealed record PoolStatus(string Image, string Digest, int Target, int Ready)
{
    public RuntimeTier Tier { get; init; } = RuntimeTier.Container;
}

/// <summary>
/// Keeps a number of sandboxes per image already made — namespace, veth pair, overlay, running init — so that handing
/// one out is a claim (an address and limits), not a build. Refills in the background after every claim.
/// A pool is per image and runtime tier: a target key "busybox@gvisor" is the gvisor tier alone; a key that names no
/// tier, "busybox", is one pool of that size per tier the policy hands out (<see cref="TierPolicy.HandedOut"/>, read
/// again at every pass, as the policy reloads live), or the container tier alone when the pool was given no policy.
/// </summary>
public sealed partial class WarmPool : BackgroundService
{
    private readonly SandboxService _sandboxes;
    private readonly IImageCatalog _images;
    private readonly IReadOnlyDictionary<string, int> _targets;
    private readonly ILogger _log;
    private readonly SemaphoreSlim _filling = new(1, 1);
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    private readonly Func<IReadOnlySet<RuntimeTier>>? _handedOut;

    /// <param name="handedOut">The tiers the policy hands out, for keys that name no tier; null = the container tier.</param>
    public WarmPool(SandboxService sandboxes, IImageCatalog images, IReadOnlyDictionary<string, int> targets, ILogger<WarmPool> log, Func<IReadOnlySet<RuntimeTier>>? handedOut = null)
    {
        _sandboxes = sandboxes;
        _images = images;
        _targets = targets;
        _log = log;
        _handedOut = handedOut;
        sandboxes.PoolClaimed += _ => Wake();
    }

    /// <summary>Each pool to keep, by image and tier, with its target: keys that name no tier spread over the tiers handed out.</summary>
    internal IReadOnlyList<(string Image, RuntimeTier Tier, int Target)> Pools() =>
        Expand(_targets, _handedOut?.Invoke() ?? new HashSet<RuntimeTier> { RuntimeTier.Container });

    /// <summary>The pools <paramref name="targets"/> ask for when the policy hands out <paramref name="handedOut"/>; where
    /// two keys ask for the same image and tier, the larger target wins.</summary>
    public static IReadOnlyList<(string Image, RuntimeTier Tier, int Target)> Expand(IReadOnlyDictionary<string, int> targets, IReadOnlySet<RuntimeTier> handedOut)
    {
        ArgumentNullException.ThrowIfNull(targets);
        ArgumentNullException.ThrowIfNull(handedOut);
        var pools = new Dictionary<(string, RuntimeTier), int>();
        foreach (var (key, target) in targets)
        {
            var (image, tier) = ParseKey(key);
            IEnumerable<RuntimeTier> tiers = NamesTier(key) ? [tier] : handedOut;
            foreach (var t in tiers)
            {
                pools[(image, t)] = Math.Max(target, pools.GetValueOrDefault((image, t)));
            }
        }

        return [.. pools.Select(p => (p.Key.Item1, p.Key.Item2, p.Value))];
    }

    /// <summary>Whether a pool key "IMAGE@TIER" names its tier.</summary>
    public static bool NamesTier(string key)
    {
        var at = key.LastIndexOf('@');
        return at > 0 && RuntimeTiers.TryParse(key[(at + 1)..], out _);
    }

    public void Wake() => _wake.Writer.TryWrite(true);

    public IReadOnlyList<PoolStatus> Status() =>
        Pools().Select(p =>
        {
            var digest = TryResolve(p.Image);
            return new PoolStatus(p.Image, digest ?? "", p.Target, digest is null ? 0 : _sandboxes.Store.ListPool(digest, p.Tier).Count) { Tier = p.Tier };
        }).ToList();

    /// <summary>Splits a pool key "IMAGE[@TIER]" into the image and the tier (container when none is named).</summary>
    public static (string Image, RuntimeTier Tier) ParseKey(string key)
    {
        var at = key.LastIndexOf('@');
        return at > 0 && RuntimeTiers.TryParse(key[(at + 1)..], out var tier) ? (key[..at], tier) : (key, RuntimeTier.Container);
    }

    /// <summary>Fills every pool to its target once; returns when done (used at start and by tests and benchmarks).</summary>
    public async Task FillAsync(CancellationToken cancellationToken = default)
    {
        // One pass at a time: two concurrent passes would each see the same shortfall and overfill.
        await _filling.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await FillOnceAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _filling.Release();
        }

        Filled?.Invoke();
    }

    private async Task FillOnceAsync(CancellationToken cancellationToken)
    {
        foreach (var (image, tier, target) in Pools())
        {
            if (!_sandboxes.Runtimes.IsAvailable(tier))
            {
                LogTierUnavailable(_log, image, tier.Name());
                continue;
            }

            var digest = TryResolve(image);
            if (digest is null)
            {
                LogImageUnknown(_log, image);
                continue;
            }

            var missing = target - _sandboxes.Store.ListPool(digest, tier).Count;
            for (var i = 0; i < missing && !cancellationToken.IsCancellationRequested; i++)
            {
                try
                {
                    await _sandboxes.CreatePooledAsync(image, tier, cancellationToken).ConfigureAwait(false);
                }
                catch (MoatHostException e)
                {
                    LogFillFailed(_log, image, e);
                    return;
                }
            }
        }
    }

    /// <summary>Raised each time a fill pass ends.</summary>
    public event Action? Filled;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        Wake();
        try
        {
            while (await _wake.Reader.WaitToReadAsync(stoppingToken).ConfigureAwait(false))
            {
                _wake.Reader.TryRead(out _);
                await FillAsync(stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down: pool sandboxes stay; the next agent adopts them.
        }
    }

    private string? TryResolve(string image)
    {
        try
        {
            return _images.Resolve(image).Digest;
        }
        catch (InvalidRequestException)
        {
            return null;
        }
    }

    [LoggerMessage(EventId = 300, Level = LogLevel.Warning, Message = "Warm pool: image {Image} is unknown; build or import it")]
    private static partial void LogImageUnknown(ILogger logger, string image);

    [LoggerMessage(EventId = 302, Level = LogLevel.Warning, Message = "Warm pool: image {Image} wants tier {Tier}, which is unavailable on this host")]
    private static partial void LogTierUnavailable(ILogger logger, string image, string tier);

    [LoggerMessage(EventId = 301, Level = LogLevel.Warning, Message = "Warm pool: filling {Image} failed")]
    private static partial void LogFillFailed(ILogger logger, string image, Exception exception);
}
