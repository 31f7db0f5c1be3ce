using Moat.Linux.Traffic;

namespace Moat.Linux.Netlink;

// Traffic control: reading qdiscs and classes back, and batches whose partial failure the caller undoes itself.
public sealed partial class RtNetlink
{
    /// <summary>Every qdisc of the link with index <paramref name="index"/>.</summary>
    public IReadOnlyList<TcObject> ListQdiscs(int index) =>
        [.. Dump(Tc.RTM_GETQDISC, Tc.RTM_NEWQDISC, "qdiscs", w => w.WriteTcMsg(Rtnl.AF_UNSPEC, index, 0, 0, 0), TcEncoding.Parse)
            .Where(q => q.InterfaceIndex == index)];

    /// <summary>
    /// The root qdisc of the link with index <paramref name="index"/>, asked for alone (a qdisc dump would walk every
    /// device of the namespace, which grows with the number of sandboxes); null when the link has none the kernel
    /// reports (noqueue) or does not exist.
    /// </summary>
    public TcObject? GetRootQdisc(int index)
    {
        var writer = new NetlinkWriter(64);
        lock (_lock)
        {
            // The kernel sends the qdisc as a notification, to the asker only with NLM_F_ECHO; a built-in qdisc
            // (noqueue) is not reported at all, so the ACK alone means "no qdisc to report".
            var sequence = _nextSequence++;
            var start = writer.BeginMessage(Tc.RTM_GETQDISC, Rtnl.NLM_F_REQUEST | Rtnl.NLM_F_ACK | Tc.NLM_F_ECHO, sequence);
            writer.WriteTcMsg(Rtnl.AF_UNSPEC, index, 0, TcHandle.Root.Value, 0);
            writer.EndMessage(start);
            SendDatagram(writer.WrittenSpan);
            TcObject? found = null;
            while (true)
            {
                foreach (var message in new NetlinkMessageEnumerator(Receive()))
                {
                    if (message.Sequence != sequence)
                    {
                        continue;
                    }

                    if (message.Type == Tc.RTM_NEWQDISC)
                    {
                        found = TcEncoding.Parse(message.Payload);
                    }
                    else if (message.Type == Rtnl.NLMSG_ERROR)
                    {
                        var (errno, text) = ParseError(message);
                        return errno switch
                        {
                            0 => found,
                            Errno.ENODEV or Errno.ENOENT or Errno.EINVAL => null,
                            _ => throw new NetlinkException(errno, $"get root qdisc of link #{index}", text),
                        };
                    }
                }
            }
        }
    }

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
