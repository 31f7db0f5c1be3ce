using Microsoft.Extensions.Logging;
using Moat.Host.Runtime;
using Moat.Host.Sandboxes;

namespace Moat.Host.Agent;

/// <summary>What one reconciliation pass found and did.</summary>
public sealed record ReconcileReport(int Adopted, int Restarted, int Repaired, int RolledBack, int OrphansRemoved);

/// <summary>
/// Brings the kernel in line with the store when an agent starts: adopts sandboxes still running, remakes missing
/// plumbing, restarts sandboxes that should run, finishes interrupted creates and destroys, and removes what this
/// agent made but no longer records. Every step is idempotent, so a crash during reconciliation is itself recoverable.
/// </summary>
public sealed partial class Reconciler(SandboxService sandboxes, IImageCatalog images, ILogger<Reconciler> log)
{
    public async Task<ReconcileReport> ReconcileAsync(CancellationToken cancellationToken = default)
    {
        int adopted = 0, restarted = 0, repaired = 0, rolledBack = 0, orphans = 0;
        // Containment first: rules (and their table) for exactly the sandboxes the store holds, orphan chains removed,
        // so that the repairs below re-admit sandboxes into a table that exists; a sandbox rolled back below is forgotten.
        await sandboxes.Containment.ReconcileAsync(sandboxes.Store.List(), cancellationToken).ConfigureAwait(false);
        // Each tier's runtime keeps its own state root; a sandbox is looked up in its own tier's listing only.
        var listings = new Dictionary<RuntimeTier, Dictionary<string, ContainerState>>();
        foreach (var (tier, runtime) in sandboxes.Runtimes.Available)
        {
            listings[tier] = (await runtime.ListAsync(cancellationToken).ConfigureAwait(false)).ToDictionary(c => c.Id, StringComparer.Ordinal);
        }

        var known = new HashSet<string>(StringComparer.Ordinal);

        foreach (var s in sandboxes.Store.List())
        {
            known.Add(s.Id);
            switch (s.State)
            {
                case SandboxState.Creating:
                case SandboxState.Destroying:
                    await sandboxes.TeardownAsync(s, removeVolume: true, cancellationToken).ConfigureAwait(false);
                    sandboxes.Store.Delete(s.Id);
                    rolledBack++;
                    LogRolledBack(log, s.Id, s.State.ToString());
                    continue;
            }

            if (!listings.TryGetValue(s.Tier, out var containers))
            {
                // The tier's runtime is gone from this host (runsc uninstalled): keep the record and volume; starting
                // it again says why it cannot run.
                LogTierMissing(log, s.Id, s.Tier.Name());
                continue;
            }

            ResolvedImage image;
            try
            {
                image = images.Resolve(s.ImageDigest);
            }
            catch (InvalidRequestException)
            {
                // The image was removed from under a sandbox: nothing can run it again. Keep the record and volume for
                // the operator, stop the container; the error says why on the next start.
                LogImageMissing(log, s.Id, s.ImageDigest);
                continue;
            }

            containers.TryGetValue(s.Id, out var c);
            var alive = c is { Status: "running" or "paused" or "created" };
            if (s.PoolImage is not null && !alive)
            {
                // A pool sandbox that lost its container has no user state: replace it rather than repair it.
                await sandboxes.TeardownAsync(s, removeVolume: true, cancellationToken).ConfigureAwait(false);
                sandboxes.Store.Delete(s.Id);
                rolledBack++;
                continue;
            }

            var presence = await PresenceAsync(s, cancellationToken).ConfigureAwait(false);
            if (!presence)
            {
                repaired++;
                LogRepaired(log, s.Id);
                if (alive && SandboxService.AddressedAtStart(s.Tier))
                {
                    // gVisor's netstack holds the veth it found at start; a new pair is invisible to it, so the
                    // sandbox is started again on fresh plumbing (same root file system and volume).
                    await sandboxes.RuntimeOf(s).DeleteAsync(s.Id, cancellationToken).ConfigureAwait(false);
                    alive = false;
                    c = null;
                }
            }

            await sandboxes.EnsurePlumbingAsync(s, image, cancellationToken, alive ? c!.Pid : null).ConfigureAwait(false);

            if (s.State is SandboxState.Running or SandboxState.Paused)
            {
                if (alive)
                {
                    var state = c!.Status == "paused" ? SandboxState.Paused : SandboxState.Running;
                    if (state != s.State)
                    {
                        sandboxes.Store.Update(s with { State = state });
                    }

                    adopted++;
                }
                else
                {
                    // Container gone (host reboot, runtime crash): run it again on the same root file system and volume.
                    await sandboxes.RuntimeOf(s).DeleteAsync(s.Id, cancellationToken).ConfigureAwait(false);
                    await sandboxes.RuntimeOf(s).RunDetachedAsync(s.Id, sandboxes.BundleDir(s), sandboxes.ConsoleLog(s), cancellationToken).ConfigureAwait(false);
                    sandboxes.Store.Update(s with { State = SandboxState.Running });
                    restarted++;
                    LogRestarted(log, s.Id);
                }
            }
        }

        // Containers under this agent's runtime root with no record: made by this agent before a crash lost the record.
        foreach (var (tier, containers) in listings)
        {
            foreach (var c in containers.Values.Where(c => !known.Contains(c.Id)))
            {
                await sandboxes.Runtimes.For(tier).DeleteAsync(c.Id, cancellationToken).ConfigureAwait(false);
                orphans++;
                LogOrphan(log, "container", c.Id);
            }
        }

        // Sandbox folders (and their overlay mounts) with no record.
        foreach (var dir in Directory.EnumerateDirectories(sandboxes.SandboxesDir))
        {
            var id = Path.GetFileName(dir);
            if (known.Contains(id))
            {
                continue;
            }

            var ghost = new Sandbox { Id = id, Spec = SandboxSpec.Default, ImageDigest = "", State = SandboxState.Destroying, CreatedAt = default };
            await sandboxes.TeardownAsync(ghost, removeVolume: true, cancellationToken).ConfigureAwait(false);
            orphans++;
            LogOrphan(log, "sandbox folder", id);
        }

        foreach (var dir in Directory.EnumerateDirectories(sandboxes.VolumesDir).Where(d => !known.Contains(Path.GetFileName(d))))
        {
            Directory.Delete(dir, recursive: true);
            orphans++;
        }

        // Disk images with no record (a crash between making the disk and journaling its removal); their folders, and
        // so their mounts, went above.
        foreach (var image in Directory.EnumerateFiles(sandboxes.DisksDir).Where(f => !known.Contains(Path.GetFileName(f).Split('.')[0])))
        {
            File.Delete(image);
            orphans++;
            LogOrphan(log, "disk", Path.GetFileName(image));
        }

        return new ReconcileReport(adopted, restarted, repaired, rolledBack, orphans);
    }

    private async Task<bool> PresenceAsync(Sandbox s, CancellationToken ct)
    {
        var p = await sandboxes.Network.InspectAsync(s.Netns, s.HostInterface, ct).ConfigureAwait(false);
        return p.NamespaceExists && p.HostInterfaceExists;
    }

    [LoggerMessage(EventId = 200, Level = LogLevel.Information, Message = "Sandbox {Id}: interrupted while {State}; undone")]
    private static partial void LogRolledBack(ILogger logger, string id, string state);

    [LoggerMessage(EventId = 201, Level = LogLevel.Warning, Message = "Sandbox {Id}: image {Digest} is gone; left stopped")]
    private static partial void LogImageMissing(ILogger logger, string id, string digest);

    [LoggerMessage(EventId = 202, Level = LogLevel.Information, Message = "Sandbox {Id}: missing plumbing rebuilt")]
    private static partial void LogRepaired(ILogger logger, string id);

    [LoggerMessage(EventId = 203, Level = LogLevel.Information, Message = "Sandbox {Id}: container was gone; restarted")]
    private static partial void LogRestarted(ILogger logger, string id);

    [LoggerMessage(EventId = 205, Level = LogLevel.Warning, Message = "Sandbox {Id}: its runtime tier {Tier} is unavailable on this host; left as it is")]
    private static partial void LogTierMissing(ILogger logger, string id, string tier);

    [LoggerMessage(EventId = 204, Level = LogLevel.Information, Message = "Removed orphan {Kind} {Id}")]
    private static partial void LogOrphan(ILogger logger, string kind, string id);
}
