using Moat.Linux.Netlink;
using Moat.Linux.Nftables;
using Moat.Linux.Traffic;

namespace Moat.Containment.Shaping;

// After an agent restart: what the kernel holds is compared with the sandboxes the agent has running.
public sealed partial class SandboxShaper
{
    /// <summary>
    /// Makes the kernel match <paramref name="live"/>: shaping of sandboxes not in it is removed, classes that belong
    /// to no sandbox are deleted, and every live sandbox is applied again (its classes set, its rules rewritten in
    /// one nft transaction for all of them). A live sandbox that cannot be shaped (e.g. its veth is gone) is reported
    /// in <see cref="ShapingReconcileResult.Failed"/> and does not stop the others.
    /// </summary>
    /// <exception cref="ShapingInputException">A live sandbox's id, veth name or rates are not valid; nothing changed.</exception>
    /// <exception cref="ShapingException">nft refused the rules; the live sandboxes' classes were put back.</exception>
    public async Task<ShapingReconcileResult> ReconcileAsync(IEnumerable<ShapedSandbox> live, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(live);
        var wanted = live.ToList();
        foreach (var sandbox in wanted)
        {
            ValidateSandbox(sandbox.SandboxId, sandbox.HostVeth, sandbox.Rates);
        }

        var duplicate = wanted.GroupBy(s => s.SandboxId, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ShapingInputException($"Sandbox {duplicate.Key} is listed {duplicate.Count()} times: list each live sandbox once.");
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            EnsureBase();
            await LoadAsync(cancellationToken).ConfigureAwait(false);
            var liveIds = wanted.Select(s => s.SandboxId).ToHashSet(StringComparer.Ordinal);
            var removed = new List<string>();
            foreach (var id in _sandboxes.Keys.Where(id => !liveIds.Contains(id)).ToList())
            {
                RemoveLocked(id);
                removed.Add(id);
            }

            var orphans = DeleteOrphanClasses();
            var rules = new NftTransaction();
            var pendings = new List<Pending>();
            var failed = new List<(string, string)>();
            foreach (var sandbox in wanted)
            {
                try
                {
                    pendings.Add(Prepare(sandbox.SandboxId, sandbox.HostVeth, sandbox.Rates, forceRules: true, rules));
                }
                catch (ShapingException e)
                {
                    failed.Add((sandbox.SandboxId, e.Message));
                }
            }

            try
            {
                CommitRules(rules);
            }
            catch (ShapingException e)
            {
                foreach (var pending in Enumerable.Reverse(pendings))
                {
                    Undo(pending, e.Message);
                }

                throw;
            }

            foreach (var pending in pendings)
            {
                Commit(pending);
            }

            ShapingLog.Reconciled(_logger, removed.Count, pendings.Count, orphans);
            return new ShapingReconcileResult(removed, [.. pendings.Select(p => p.SandboxId)], failed, orphans);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Deletes uplink classes in sandbox slots no known sandbox holds (left when rules were lost but classes stayed).</summary>
    private int DeleteOrphanClasses()
    {
        var batch = new NetlinkBatch();
        foreach (var index in _uplinkIndexes)
        {
            var orphans = _rtnl.ListClasses(index)
                .Where(c => ShapingLayout.SlotOf(c.Handle) is var slot && slot > 0 && !_usedSlots.Contains(slot))
                .Select(c => new Placed(index, SpecOf(c)));
            foreach (var orphan in LeavesFirst(orphans))
            {
                batch.DeleteClass(orphan.Index, orphan.Spec.ClassId);
            }
        }

        foreach (var outcome in _rtnl.ExecuteEach(batch).Where(o => !o.Succeeded && !IsAbsent(o.Errno)))
        {
            ShapingLog.CleanupFailed(_logger, outcome.Request, Describe(outcome));
        }

        return batch.Count;
    }
}
