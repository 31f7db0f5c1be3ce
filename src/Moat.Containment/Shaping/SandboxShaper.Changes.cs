using Moat.Linux;
using Moat.Linux.Netlink;
using Moat.Linux.Nftables;
using Moat.Linux.Traffic;

namespace Moat.Containment.Shaping;

// How one sandbox's change reaches the kernel: classes first (so rules never point at a missing class), then the
// rules in one nft transaction, then classes no longer used. A refusal at either of the first two steps undoes
// the classes step, so the previous shaping stays whole.
public sealed partial class SandboxShaper
{
    private void EnsureBase()
    {
        var indexes = new int[_options.Uplinks.Count];
        var batch = new NetlinkBatch();
        for (var i = 0; i < indexes.Length; i++)
        {
            var uplink = _options.Uplinks[i];
            indexes[i] = _rtnl.GetLinkIndex(uplink.Device)
                ?? throw new ShapingInputException($"Uplink {uplink.Device} does not exist: name a device that carries the host's traffic out.");
            var root = _rtnl.GetRootQdisc(indexes[i]);
            if (root is not { Kind: "htb" } || root.Handle != ShapingLayout.UplinkQdisc)
            {
                batch.AddHtbQdisc(indexes[i], ShapingLayout.UplinkQdisc, TcHandle.Root, ShapingLayout.HostMinor, replace: true);
            }

            foreach (var spec in ShapingLayout.UplinkTree(uplink, _options.HostShare))
            {
                batch.SetHtbClass(indexes[i], spec);
            }
        }

        try
        {
            _rtnl.Execute(batch);
        }
        catch (NetlinkException e)
        {
            throw new ShapingException($"The kernel refused the uplink shaping tree: {e.Message}", e);
        }

        _uplinkIndexes = indexes;
        var table = new NftTransaction();
        ShapingRules.WriteTable(table, _options.TableName);
        CommitRules(table);
    }

    /// <summary>Commits an nf_tables transaction: all of it or, if the kernel refuses any part, none.</summary>
    private void CommitRules(NftTransaction rules)
    {
        try
        {
            _nfnl.Commit(rules);
        }
        catch (LinuxException e)
        {
            throw new ShapingException($"The kernel refused the shaping rules: {e.Message}", e);
        }
    }

    /// <summary>Replaces what this shaper knows with what the kernel holds: chains name the sandboxes and their slots.</summary>
    private async Task LoadAsync(CancellationToken cancellationToken)
    {
        var json = await _nft.ListTableAsync(_options.TableName, cancellationToken).ConfigureAwait(false);
        var rules = json is null ? [] : ShapingRules.Parse(json);
        var uplinkClasses = _uplinkIndexes.Select(i => (Index: i, Classes: _rtnl.ListClasses(i))).ToArray();
        _sandboxes.Clear();
        _usedSlots.Clear();
        foreach (var rule in rules)
        {
            var classes = new List<Placed>();
            foreach (var (index, list) in uplinkClasses)
            {
                classes.AddRange(list.Where(c => ShapingLayout.SlotOf(c.Handle) == rule.Slot).Select(c => new Placed(index, SpecOf(c))));
            }

            var vethIndex = rule.Veth.Length == 0 ? 0 : _rtnl.GetLinkIndex(rule.Veth) ?? 0;
            var vethQdisc = false;
            if (vethIndex != 0)
            {
                vethQdisc = _rtnl.GetRootQdisc(vethIndex) is { Kind: "htb" } root && root.Handle == ShapingLayout.VethQdisc;
                if (vethQdisc)
                {
                    classes.AddRange(_rtnl.ListClasses(vethIndex).Where(c => c.Handle.Major == ShapingLayout.VethMajor).Select(c => new Placed(vethIndex, SpecOf(c))));
                }
            }

            _sandboxes[rule.SandboxId] = new Shaped(rule.SandboxId, rule.Veth, rule.Slot, vethIndex, ParentsFirst(classes), vethQdisc, rule.HasDown, Rates: null);
            _usedSlots.Add(rule.Slot);
        }
    }

    /// <summary>Step one: the sandbox's classes, created or changed in place; the rules it needs are appended to <paramref name="rules"/>.</summary>
    private Pending Prepare(string sandboxId, string veth, SandboxRates rates, bool forceRules, NftTransaction rules)
    {
        _sandboxes.TryGetValue(sandboxId, out var previous);
        var vethIndex = _rtnl.GetLinkIndex(veth)
            ?? throw new ShapingInputException($"Host veth {veth} of sandbox {sandboxId} does not exist: shape a sandbox once its network is plumbed.");
        var newSlot = previous is null;
        var slot = previous?.Slot ?? AllocateSlot(sandboxId);
        var desired = new List<Placed>();
        foreach (var index in _uplinkIndexes)
        {
            desired.AddRange(ShapingLayout.SandboxUplinkClasses(slot, rates, _options.SandboxGuaranteed).Select(s => new Placed(index, s)));
        }

        desired.AddRange(ShapingLayout.SandboxVethClasses(rates).Select(s => new Placed(vethIndex, s)));
        var wantQdisc = rates.Ingress is not null;
        var batch = new NetlinkBatch();
        var createdQdisc = false;
        if (wantQdisc && !(previous is { VethQdisc: true } && previous.VethIndex == vethIndex))
        {
            var root = _rtnl.GetRootQdisc(vethIndex);
            if (root is not { Kind: "htb" } || root.Handle != ShapingLayout.VethQdisc)
            {
                batch.AddHtbQdisc(vethIndex, ShapingLayout.VethQdisc, TcHandle.Root, ShapingLayout.VethRestMinor, replace: true);
                createdQdisc = true;
            }
        }

        foreach (var placed in desired)
        {
            batch.SetHtbClass(placed.Index, placed.Spec);
        }

        var next = new Shaped(sandboxId, veth, slot, vethIndex, desired, wantQdisc, wantQdisc, rates);
        var rewrite = forceRules || previous?.Rates is null || previous.Veth != veth || !previous.Rates.SameMatches(rates);
        var pending = new Pending(sandboxId, previous, next, createdQdisc, newSlot, rewrite);
        var failure = _rtnl.ExecuteEach(batch).FirstOrDefault(o => !o.Succeeded);
        if (failure.Request is not null)
        {
            var reason = $"{failure.Request}: {Describe(failure)}";
            Undo(pending, reason);
            throw new ShapingException($"The kernel refused sandbox {sandboxId}'s shaping ({reason}); its previous shaping stays in force.");
        }

        if (rewrite)
        {
            ShapingRules.WriteSandbox(rules, _options.TableName, sandboxId, veth, slot, rates, previous?.Rules);
        }

        return pending;
    }

    /// <summary>Step three: classes the sandbox no longer uses go; the new state is recorded.</summary>
    private void Commit(Pending pending)
    {
        var (previous, next) = (pending.Previous, pending.Next);
        _sandboxes[pending.SandboxId] = next;
        if (previous is null)
        {
            ShapingLog.Applied(_logger, next.SandboxId, next.Veth, next.Slot, next.Rates!.Egress, next.Rates.Flows.Count, pending.RulesRewritten);
            return;
        }

        var cleanup = new NetlinkBatch();
        var dropQdisc = previous.VethQdisc && (!next.VethQdisc || previous.VethIndex != next.VethIndex);
        if (dropQdisc)
        {
            cleanup.DeleteQdisc(previous.VethIndex, ShapingLayout.VethQdisc, TcHandle.Root);
        }

        foreach (var stale in LeavesFirst(previous.Classes.Where(p => !next.Classes.Any(p.SamePlace) && !(dropQdisc && p.Index == previous.VethIndex))))
        {
            cleanup.DeleteClass(stale.Index, stale.Spec.ClassId);
        }

        foreach (var outcome in _rtnl.ExecuteEach(cleanup).Where(o => !o.Succeeded && !IsAbsent(o.Errno)))
        {
            ShapingLog.CleanupFailed(_logger, outcome.Request, Describe(outcome));
        }

        ShapingLog.Applied(_logger, next.SandboxId, next.Veth, next.Slot, next.Rates!.Egress, next.Rates.Flows.Count, pending.RulesRewritten);
    }

    /// <summary>Puts the classes back as they were before <paramref name="pending"/>.</summary>
    private void Undo(Pending pending, string reason)
    {
        var batch = new NetlinkBatch();
        var previous = pending.Previous;
        foreach (var placed in previous?.Classes ?? [])
        {
            batch.SetHtbClass(placed.Index, placed.Spec);
        }

        foreach (var added in LeavesFirst(pending.Next.Classes.Where(n => previous is null || !previous.Classes.Any(n.SamePlace))))
        {
            batch.DeleteClass(added.Index, added.Spec.ClassId);
        }

        if (pending.CreatedQdisc)
        {
            batch.DeleteQdisc(pending.Next.VethIndex, ShapingLayout.VethQdisc, TcHandle.Root);
        }

        foreach (var outcome in _rtnl.ExecuteEach(batch).Where(o => !o.Succeeded && !IsAbsent(o.Errno)))
        {
            ShapingLog.UndoFailed(_logger, outcome.Request, Describe(outcome));
        }

        if (pending.NewSlot)
        {
            _usedSlots.Remove(pending.Next.Slot);
        }

        ShapingLog.RolledBack(_logger, pending.SandboxId, reason);
    }

    private bool RemoveLocked(string sandboxId)
    {
        if (!_sandboxes.TryGetValue(sandboxId, out var shaped))
        {
            return false;
        }

        var rules = new NftTransaction();
        ShapingRules.WriteRemoval(rules, _options.TableName, shaped.Rules);
        CommitRules(rules);
        var batch = new NetlinkBatch();
        if (shaped.VethQdisc)
        {
            batch.DeleteQdisc(shaped.VethIndex, ShapingLayout.VethQdisc, TcHandle.Root);
        }

        foreach (var placed in LeavesFirst(shaped.Classes.Where(c => !(shaped.VethQdisc && c.Index == shaped.VethIndex))))
        {
            batch.DeleteClass(placed.Index, placed.Spec.ClassId);
        }

        foreach (var outcome in _rtnl.ExecuteEach(batch).Where(o => !o.Succeeded && !IsAbsent(o.Errno)))
        {
            ShapingLog.CleanupFailed(_logger, outcome.Request, Describe(outcome));
        }

        _sandboxes.Remove(sandboxId);
        _usedSlots.Remove(shaped.Slot);
        ShapingLog.Removed(_logger, sandboxId);
        return true;
    }

    private int AllocateSlot(string sandboxId)
    {
        for (var slot = 1; slot <= ShapingLayout.MaxSlot; slot++)
        {
            if (_usedSlots.Add(slot))
            {
                return slot;
            }
        }

        throw new ShapingException($"Sandbox {sandboxId} cannot be shaped: all {ShapingLayout.MaxSlot} sandbox slots of the uplink tree are in use.");
    }

    private static HtbClassSpec SpecOf(TcObject c)
    {
        var spec = new HtbClassSpec(c.Handle, c.Parent, c.RateBitsPerSecond ?? BitRate.Minimum.BitsPerSecond, c.CeilBitsPerSecond ?? BitRate.Minimum.BitsPerSecond);
        return IsAggregate(c.Handle) && c.Handle.Major == ShapingLayout.UplinkMajor ? spec with { QuantumBytes = ShapingLayout.SandboxQuantum } : spec;
    }

    /// <summary>A sandbox's aggregate class (10:S0 on an uplink, 20:1 on its veth), parent of its leaves.</summary>
    private static bool IsAggregate(TcHandle classId) =>
        classId.Major == ShapingLayout.UplinkMajor ? (classId.Minor & 0xf) == 0 : classId.Minor == ShapingLayout.VethCapMinor;

    private static List<Placed> ParentsFirst(IEnumerable<Placed> classes) => [.. classes.OrderBy(c => IsAggregate(c.Spec.ClassId) ? 0 : 1)];

    private static IEnumerable<Placed> LeavesFirst(IEnumerable<Placed> classes) => classes.OrderBy(c => IsAggregate(c.Spec.ClassId) ? 1 : 0);

    /// <summary>Gone already: the class, qdisc or link does not exist (e.g. the veth went with its sandbox).</summary>
    private static bool IsAbsent(int errno) => errno is Errno.ENOENT or Errno.ENODEV;

    private static string Describe(NetlinkOutcome outcome) =>
        new NetlinkException(outcome.Errno, outcome.Request, outcome.KernelMessage).Message;
}
