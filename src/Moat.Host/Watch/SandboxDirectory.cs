using System.Collections.Concurrent;
using System.Net;
using Moat.Host.Sandboxes;
using Moat.Host.Store;

namespace Moat.Host.Watch;

/// <summary>What the watchers need to know of one sandbox, read from the agent's store.</summary>
internal sealed record WatchedSandbox(Sandbox Sandbox, TierPolicy Tiers, string Rootfs, string? ImageRootfs)
{
    public string Id => Sandbox.Id;

    /// <summary>The trust level the policy in force now gives the sandbox's client (a reloaded policy counts at once); a
    /// sandbox that asked for more trust than a reloaded policy now gives its client is held to the least.</summary>
    public string Trust
    {
        get
        {
            try
            {
                return Tiers.TrustOf(Sandbox.Spec);
            }
            catch (InvalidRequestException)
            {
                return TierOptions.Untrusted;
            }
        }
    }

    /// <summary>Its root file system is mounted (the overlay exists from Created until it stops).</summary>
    public bool Mounted => Sandbox.State is SandboxState.Created or SandboxState.Running or SandboxState.Paused;
}

/// <summary>
/// The host's sandboxes by id and by address, for the monitor's loop and the conntrack reader, which look sandboxes up
/// without touching the store. Read whole once; after that each refresh (on a clock, and on a miss at most every
/// 50 ms) re-reads only the sandboxes whose rows changed since (<see cref="SandboxChanges"/>), so its cost follows the
/// rate of change, not the number of sandboxes on the host.
/// </summary>
internal sealed class SandboxDirectory(SandboxService sandboxes, IImageCatalog images, TimeProvider time)
{
    private static readonly TimeSpan MissRefresh = TimeSpan.FromMilliseconds(50);
    private readonly Dictionary<string, string?> _imageRoots = new(StringComparer.Ordinal);
    private readonly Lock _refreshGate = new();
    private readonly SandboxChanges _changes = sandboxes.Store.Track();
    private readonly ConcurrentDictionary<string, WatchedSandbox> _byId = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<IPAddress, WatchedSandbox> _byAddress = new();
    private bool _loaded;
    private long _readAtTicks = DateTimeOffset.MinValue.UtcTicks;
    private long _readTicks;

    public IReadOnlyCollection<WatchedSandbox> All => [.. _byId.Values];

    /// <summary>Environment.TickCount64 when the store was last read.</summary>
    public long ReadTicks => Interlocked.Read(ref _readTicks);

    public WatchedSandbox? ById(string id) => _byId.GetValueOrDefault(id);

    /// <summary>The sandbox that owns <paramref name="address"/>; a miss re-reads the store if the last read is stale.</summary>
    public WatchedSandbox? ByAddress(IPAddress address)
    {
        if (_byAddress.TryGetValue(address, out var s))
        {
            return s;
        }

        RefreshIfStale();
        return _byAddress.GetValueOrDefault(address);
    }

    /// <summary>Re-reads the store unless it was read within the last 50 ms (a miss must not turn into a query per event).</summary>
    public void RefreshIfStale()
    {
        if (time.GetUtcNow().UtcTicks - Interlocked.Read(ref _readAtTicks) >= MissRefresh.Ticks)
        {
            Refresh();
        }
    }

    /// <summary>Brings the directory up to the store: every sandbox the first time, then the ones that changed.</summary>
    public void Refresh()
    {
        lock (_refreshGate)
        {
            long ticks = Environment.TickCount64;
            if (!_loaded)
            {
                // Changes from here on are pending and read again next time: reading a row twice is harmless.
                _changes.Clear();
                foreach (var s in sandboxes.List())
                {
                    Put(s.Id, s);
                }

                _loaded = true;
            }
            else
            {
                foreach (var (id, s) in _changes.Read())
                {
                    Put(id, s);
                }
            }

            Interlocked.Exchange(ref _readAtTicks, time.GetUtcNow().UtcTicks);
            Interlocked.Exchange(ref _readTicks, ticks);
        }
    }

    /// <summary>Replaces what the directory holds for <paramref name="id"/> with <paramref name="s"/> (null: removes it).</summary>
    private void Put(string id, Sandbox? s)
    {
        if (_byId.TryGetValue(id, out var old) && Address(old.Sandbox) is { } oldAddress
            && (s is null || !oldAddress.Equals(Address(s))))
        {
            _byAddress.TryRemove(new KeyValuePair<IPAddress, WatchedSandbox>(oldAddress, old));
        }

        if (s is null)
        {
            _byId.TryRemove(id, out _);
            return;
        }

        var w = new WatchedSandbox(s, sandboxes.Tiers, sandboxes.RootfsDir(s), ImageRoot(s.ImageDigest));
        _byId[id] = w;
        if (Address(s) is { } address)
        {
            _byAddress[address] = w;
        }
    }

    private static IPAddress? Address(Sandbox s) => s.Address is not null && IPAddress.TryParse(s.Address, out var a) ? a : null;

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
}
