using System.Buffers.Binary;
using System.Net;

namespace Moat.Linux.Netlink;

public sealed partial class RtNetlink
{
    public void CreateVeth(VethSpec spec) => ExecuteOne(b => b.AddVeth(spec));

    public void CreateLink(string name, string kind) => ExecuteOne(b => b.AddLink(name, kind));

    public void SetLinkUp(string name) => ExecuteOne(b => b.SetLinkUp(name));

    public void SetLinkUp(int index) => ExecuteOne(b => b.SetLinkUp(index));

    public void SetLinkDown(string name) => ExecuteOne(b => b.SetLinkDown(name));

    public void SetLinkDown(int index) => ExecuteOne(b => b.SetLinkDown(index));

    public void RenameLink(int index, string newName) => ExecuteOne(b => b.RenameLink(index, newName));

    public void SetMtu(int index, int mtu) => ExecuteOne(b => b.SetMtu(index, mtu));

    public void SetIpv4Settings(string name, params (Ipv4DeviceSetting Setting, uint Value)[] settings) =>
        ExecuteOne(b => b.SetIpv4Settings(name, settings));

    /// <summary>Deletes a link; false when no link has that name (so teardown can be repeated).</summary>
    public bool DeleteLink(string name) => Absent(SendOne(b => b.DeleteLink(name), out var d), Errno.ENODEV, d);

    /// <summary>Deletes a link; false when no link has that index.</summary>
    public bool DeleteLink(int index) => Absent(SendOne(b => b.DeleteLink(index), out var d), Errno.ENODEV, d);

    public void AddAddress(int index, IPAddress address, int prefixLength) => ExecuteOne(b => b.AddAddress(index, address, prefixLength));

    /// <summary>Deletes an address; false when the link does not hold it.</summary>
    public bool DeleteAddress(int index, IPAddress address, int prefixLength) =>
        Absent(SendOne(b => b.DeleteAddress(index, address, prefixLength), out var d), Errno.EADDRNOTAVAIL, d);

    public void AddRoute(RouteSpec route) => ExecuteOne(b => b.AddRoute(route));

    public void ReplaceRoute(RouteSpec route) => ExecuteOne(b => b.ReplaceRoute(route));

    /// <summary>Deletes a route; false when there is no such route.</summary>
    public bool DeleteRoute(RouteSpec route) => Absent(SendOne(b => b.DeleteRoute(route), out var d), Errno.ESRCH, d);

    /// <summary>The index of the link named <paramref name="name"/>, or null when there is none.</summary>
    public int? GetLinkIndex(string name)
    {
        NetlinkBatch.ValidateInterfaceName(name, nameof(name));
        var writer = new NetlinkWriter(64);
        lock (_lock)
        {
            var sequence = _nextSequence++;
            var start = writer.BeginMessage(Rtnl.RTM_GETLINK, Rtnl.NLM_F_REQUEST, sequence);
            writer.WriteIfInfo(Rtnl.AF_UNSPEC, 0, 0, 0);
            writer.PutString(Rtnl.IFLA_IFNAME, name);
            writer.PutU32(Rtnl.IFLA_EXT_MASK, Rtnl.RTEXT_FILTER_SKIP_STATS);
            writer.EndMessage(start);
            SendDatagram(writer.WrittenSpan);
            while (true)
            {
                foreach (var message in new NetlinkMessageEnumerator(Receive()))
                {
                    if (message.Sequence != sequence)
                    {
                        continue;
                    }

                    if (message.Type == Rtnl.RTM_NEWLINK)
                    {
                        return BinaryPrimitives.ReadInt32LittleEndian(message.Payload[4..]);
                    }

                    if (message.Type == Rtnl.NLMSG_ERROR)
                    {
                        var (errno, text) = ParseError(message);
                        return errno == Errno.ENODEV ? null : throw new NetlinkException(errno, $"get link {name}", text);
                    }
                }
            }
        }
    }

    /// <summary>Every link in this socket's namespace, for reconciliation.</summary>
    public IReadOnlyList<LinkInfo> ListLinks()
    {
        // A dump that races with a change is flagged NLM_F_DUMP_INTR; it is repeated a bounded number of times.
        const int attempts = 5;
        for (var attempt = 1; ; attempt++)
        {
            var (links, interrupted) = DumpLinks();
            if (!interrupted)
            {
                return links;
            }

            if (attempt == attempts)
            {
                throw new LinuxException(Interop.EINTR, $"dump links (changed during each of {attempts} attempts)");
            }
        }
    }

    private (List<LinkInfo> Links, bool Interrupted) DumpLinks()
    {
        var links = new List<LinkInfo>();
        var interrupted = false;
        var writer = new NetlinkWriter(64);
        lock (_lock)
        {
            var sequence = _nextSequence++;
            var start = writer.BeginMessage(Rtnl.RTM_GETLINK, Rtnl.NLM_F_REQUEST | Rtnl.NLM_F_DUMP, sequence);
            writer.WriteIfInfo(Rtnl.AF_UNSPEC, 0, 0, 0);
            writer.PutU32(Rtnl.IFLA_EXT_MASK, Rtnl.RTEXT_FILTER_SKIP_STATS);
            writer.EndMessage(start);
            SendDatagram(writer.WrittenSpan);
            while (true)
            {
                foreach (var message in new NetlinkMessageEnumerator(Receive()))
                {
                    if (message.Sequence != sequence)
                    {
                        continue;
                    }

                    interrupted |= (message.Flags & Rtnl.NLM_F_DUMP_INTR) != 0;
                    switch (message.Type)
                    {
                        case Rtnl.NLMSG_DONE:
                            return (links, interrupted);
                        case Rtnl.NLMSG_ERROR:
                            var (errno, text) = ParseError(message);
                            throw new NetlinkException(errno, "dump links", text);
                        case Rtnl.RTM_NEWLINK:
                            links.Add(LinkParser.Parse(message.Payload));
                            break;
                    }
                }
            }
        }
    }

    private static bool Absent((int Errno, string? Message) result, int absentErrno, string description) =>
        result.Errno == 0 ? true
        : result.Errno == absentErrno ? false
        : throw new NetlinkException(result.Errno, description, result.Message);
}

/// <summary>Turns an RTM_NEWLINK payload (ifinfomsg + attributes) into a <see cref="LinkInfo"/>.</summary>
internal static class LinkParser
{
    public static LinkInfo Parse(ReadOnlySpan<byte> payload)
    {
        var index = BinaryPrimitives.ReadInt32LittleEndian(payload[4..]);
        var flags = BinaryPrimitives.ReadUInt32LittleEndian(payload[8..]);
        string name = "";
        string? kind = null;
        int mtu = 0;
        int? master = null, peer = null, netnsId = null;
        foreach (var attribute in new NetlinkAttributeEnumerator(payload[16..]))
        {
            switch (attribute.Type)
            {
                case Rtnl.IFLA_IFNAME:
                    name = attribute.AsString();
                    break;
                case Rtnl.IFLA_MTU:
                    mtu = attribute.AsI32();
                    break;
                case Rtnl.IFLA_MASTER:
                    master = attribute.AsI32();
                    break;
                case Rtnl.IFLA_LINK:
                    peer = attribute.AsI32();
                    break;
                case Rtnl.IFLA_LINK_NETNSID:
                    netnsId = attribute.AsI32();
                    break;
                case Rtnl.IFLA_LINKINFO:
                    foreach (var info in attribute.Nested())
                    {
                        if (info.Type == Rtnl.IFLA_INFO_KIND)
                        {
                            kind = info.AsString();
                        }
                    }

                    break;
            }
        }

        return new LinkInfo(name, index, kind, flags, mtu, master, peer, netnsId);
    }
}
