using Moat.Linux.Traffic;

namespace Moat.Linux.Netlink;

// Traffic control: reading qdiscs and classes back, and batches whose partial failure the caller undoes itself.
public sealed partial class RtNetlink
{
    /// <summary>Every qdisc of the link with index <paramref name="index"/>.</summary>
    public IReadOnlyList<TcObject> ListQdiscs(int index) =>
        [.. Dump(Tc.RTM_GETQDISC, Tc.RTM_NEWQDISC, "qdiscs", w => w.WriteTcMsg(Rtnl.AF_UNSPEC, index, 0, 0, 0), TcEncoding.Parse)
            .Where(q => q.InterfaceIndex == index)];

    /// <summary>Every class of the link with index <paramref name="index"/>, with HTB rates.</summary>
    public IReadOnlyList<TcObject> ListClasses(int index) =>
        Dump(Tc.RTM_GETTCLASS, Tc.RTM_NEWTCLASS, "classes", w => w.WriteTcMsg(Rtnl.AF_UNSPEC, index, 0, 0, 0), TcEncoding.Parse);

    /// <summary>
    /// Sends the batch in one datagram and reports every request's outcome instead of throwing, so that a caller
    /// can undo the requests that did take effect.
    /// </summary>
    public IReadOnlyList<NetlinkOutcome> ExecuteEach(NetlinkBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var results = Send(batch);
        var outcomes = new NetlinkOutcome[results.Length];
        for (var i = 0; i < results.Length; i++)
        {
            outcomes[i] = new NetlinkOutcome(batch.Requests[i].Description, results[i].Errno, results[i].Message);
        }

        return outcomes;
    }
}
