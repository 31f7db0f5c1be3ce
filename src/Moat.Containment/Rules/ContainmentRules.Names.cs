using System.Net;
using Moat.Linux.Nftables;

namespace Moat.Containment.Rules;

/// <summary>The per-sandbox name sets ("dn_&lt;id&gt;") the egress resolver fills, and the host-wide DoH set.</summary>
public sealed partial class ContainmentRules : Resolver.INameSets
{
    /// <summary>
    /// Puts <paramref name="entries"/> in the sandbox's name set, each until its timeout (an entry already there gets
    /// the new timeout), in one transaction. Returns when the kernel holds them: the caller may release the answer.
    /// </summary>
    /// <exception cref="ContainmentInputException">The sandbox has no rules on this host.</exception>
    public void AdmitNameAddresses(string id, IReadOnlyList<(IPAddress Address, TimeSpan Timeout)> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        if (entries.Count == 0)
        {
            return;
        }

        lock (_lock)
        {
            Known(id);
            var set = RuleNames.NameAddresses(id);
            var t = new NftTransaction()
                .DestroyElements(Inet, _options.Table, set, [.. entries.Select(e => NftElement.Address(e.Address))])
                .AddElements(Inet, _options.Table, set, [.. entries.Select(e => NftElement.Address(e.Address, e.Timeout))]);
            Commit(t);
        }
    }

    /// <summary>Takes <paramref name="addresses"/> out of the sandbox's name set at once (a name was denied live); no error for ones not there.</summary>
    public void RevokeNameAddresses(string id, IReadOnlyList<IPAddress> addresses)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        if (addresses.Count == 0)
        {
            return;
        }

        lock (_lock)
        {
            Commit(new NftTransaction().DestroyElements(Inet, _options.Table, RuleNames.NameAddresses(id), [.. addresses.Select(a => NftElement.Address(a))]));
        }
    }

    private void AddDohSet(NftTransaction t)
    {
        var table = _options.Table;
        t.AddSet(Inet, table, NftSetSpec.Ipv4Addresses(RuleNames.DohSet, interval: true))
            .FlushSet(Inet, table, RuleNames.DohSet)
            .AddElements(Inet, table, RuleNames.DohSet, Intervals.Elements(_options.DohAddresses));
    }
}
