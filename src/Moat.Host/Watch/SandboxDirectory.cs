using System.Collections.Frozen;
using System.Net;
using Moat.Host.Sandboxes;

namespace Moat.Host.Watch;

/// <summary>What the watchers need to know of one sandbox, read from the agent's store.</summary>
internal sealed record WatchedSandbox(Sandbox Sandbox, string Trust, string Rootfs, string? ImageRootfs)
{
    public string Id => Sandbox.Id;

    /// <summary>Its root file system is mounted (the overlay exists from Created until it stops).</summary>
    public bool Mounted => Sandbox.State is SandboxState.Created or SandboxState.Running or SandboxState.Paused;
}

/// <summary>
/// The host's sandboxes by id and by address, re-read from the store on a clock (and on a miss, at most every
/// 50 ms): the monitor's loop and the conntrack reader look sandboxes up without touching the store.
/// </summary>
internal sealed class SandboxDirectory(SandboxService sandboxes, IImageCatalog images, TimeProvider time)
{
    private static readonly TimeSpan MissRefresh = TimeSpan.FromMilliseconds(50);
    private readonly Dictionary<string, string?> _imageRoots = new(StringComparer.Ordinal);
    private readonly Lock _refreshGate = new();
    private Snapshot _current = new(FrozenDictionary<string, WatchedSandbox>.Empty, FrozenDictionary<IPAddress, WatchedSandbox>.Empty, DateTimeOffset.MinValue, 0);

    public IReadOnlyCollection<WatchedSandbox> All => _current.ById.Values;

    /// <summary>Environment.TickCount64 when the store was last read.</summary>
    public long ReadTicks => _current.ReadTicks;

    public WatchedSandbox? ById(string id) => _current.ById.GetValueOrDefault(id);

    /// <summary>The sandbox that owns <paramref name="address"/>; a miss re-reads the store if the last read is stale.</summary>
    public WatchedSandbox? ByAddress(IPAddress address)
    {
        if (_current.ByAddress.TryGetValue(address, out var s))
        {
            return s;
        }

        RefreshIfStale();
        return _current.ByAddress.GetValueOrDefault(address);
    }

    /// <summary>Re-reads the store unless it was read within the last 50 ms (a miss must not turn into a query per event).</summary>
    public void RefreshIfStale()
    {
        if (time.GetUtcNow() - _current.ReadAt >= MissRefresh)
        {
            Refresh();
        }
    }

    public void Refresh()
    {
        lock (_refreshGate)
        {
            long ticks = Environment.TickCount64;
            var byId = new Dictionary<string, WatchedSandbox>(StringComparer.Ordinal);
            var byAddress = new Dictionary<IPAddress, WatchedSandbox>();
            foreach (var s in sandboxes.List())
            {
                var w = new WatchedSandbox(s, sandboxes.Tiers.TrustOf(s.Spec), sandboxes.RootfsDir(s), ImageRoot(s.ImageDigest));
                byId[s.Id] = w;
                if (s.Address is not null && IPAddress.TryParse(s.Address, out var a))
                {
                    byAddress[a] = w;
                }
            }

            _current = new Snapshot(byId.ToFrozenDictionary(StringComparer.Ordinal), byAddress.ToFrozenDictionary(), time.GetUtcNow(), ticks);
        }
    }

    private string? ImageRoot(string digest)
    {
        if (!_imageRoots.TryGetValue(digest, out var root))
        {
            try
            {
                root = images.Resolve(digest).RootfsPath;
            }
            catch (InvalidRequestException)
            {
                root = null; // the image was removed; drift and packages cannot be judged, and the records say so
            }

            _imageRoots[digest] = root;
        }

        return root;
    }

    private sealed record Snapshot(FrozenDictionary<string, WatchedSandbox> ById, FrozenDictionary<IPAddress, WatchedSandbox> ByAddress, DateTimeOffset ReadAt, long ReadTicks);
}
