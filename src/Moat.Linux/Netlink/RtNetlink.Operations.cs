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
    public IReadOnlyList<LinkInfo> ListLinks() =>
        Dump(Rtnl.RTM_GETLINK, Rtnl.RTM_NEWLINK, "links", w =>
        {
            w.WriteIfInfo(Rtnl.AF_UNSPEC, 0, 0, 0);
            w.PutU32(Rtnl.IFLA_EXT_MASK, Rtnl.RTEXT_FILTER_SKIP_STATS);
        }, LinkParser.Parse);

    /// <summary>Every IPv4 and IPv6 address in this socket's namespace, for reconciliation.</summary>
    public IReadOnlyList<AddressInfo> ListAddresses() =>
        Dump(Rtnl.RTM_GETADDR, Rtnl.RTM_NEWADDR, "addresses", w => w.WriteIfAddr(Rtnl.AF_UNSPEC, 0, 0, 0, 0), AddressParser.Parse);

    /// <summary>
    /// The unicast routes of this socket's namespace (IPv4 and IPv6, every table; local and broadcast entries are
    /// left out), each in the form <see cref="DeleteRoute"/> takes, for reconciliation.
    /// </summary>
    public IReadOnlyList<RouteSpec> ListRoutes() =>
        [.. Dump(Rtnl.RTM_GETROUTE, Rtnl.RTM_NEWROUTE, "routes", w => w.WriteRtMsg(Rtnl.AF_UNSPEC, 0, 0, 0, 0, 0, 0), RouteParser.Parse).OfType<RouteSpec>()];

    private delegate T PayloadParser<out T>(ReadOnlySpan<byte> payload);

    private List<T> Dump<T>(ushort request, ushort reply, string what, Action<NetlinkWriter> header, PayloadParser<T> parse)
    {
        // A dump that races with a change is flagged NLM_F_DUMP_INTR; it is repeated a bounded number of times.
        const int attempts = 5;
        for (var attempt = 1; ; attempt++)
        {
            var (items, interrupted) = DumpOnce(request, reply, what, header, parse);
            if (!interrupted)
            {
                return items;
            }

            if (attempt == attempts)
            {
                throw new LinuxException(Interop.EINTR, $"dump {what} (changed during each of {attempts} attempts)");
            }
        }
    }

    private (List<T> Items, bool Interrupted) DumpOnce<T>(ushort request, ushort reply, string what, Action<NetlinkWriter> header, PayloadParser<T> parse)
    {
        var items = new List<T>();
        var interrupted = false;
        var writer = new NetlinkWriter(64);
        lock (_lock)
        {
            var sequence = _nextSequence++;
            var start = writer.BeginMessage(request, Rtnl.NLM_F_REQUEST | Rtnl.NLM_F_DUMP, sequence);
            header(writer);
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
                    if (message.Type == Rtnl.NLMSG_DONE)
                    {
                        return (items, interrupted);
                    }

                    if (message.Type == Rtnl.NLMSG_ERROR)
                    {
                        var (errno, text) = ParseError(message);
                        throw new NetlinkException(errno, $"dump {what}", text);
                    }

                    if (message.Type == reply)
                    {
                        items.Add(parse(message.Payload));
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

/// <summary>Turns an RTM_NEWADDR payload (ifaddrmsg + attributes) into an <see cref="AddressInfo"/>.</summary>
internal static class AddressParser
{
    public static AddressInfo Parse(ReadOnlySpan<byte> payload)
    {
        var prefixLength = payload[1];
        var scope = (RouteScope)payload[3];
        var index = BinaryPrimitives.ReadInt32LittleEndian(payload[4..]);
        IPAddress? local = null, address = null;
        foreach (var attribute in new NetlinkAttributeEnumerator(payload[8..]))
        {
            if (attribute.Type == Rtnl.IFA_LOCAL)
            {
                local = new IPAddress(attribute.Value);
            }
            else if (attribute.Type == Rtnl.IFA_ADDRESS)
            {
                address = new IPAddress(attribute.Value);
            }
        }

        // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on point-to-point links.
        return new AddressInfo(index, local ?? address ?? IPAddress.None, prefixLength, scope);
    }
}

/// <summary>Turns an RTM_NEWROUTE payload (rtmsg + attributes) into a <see cref="RouteSpec"/>, or null for non-unicast entries.</summary>
internal static class RouteParser
{
    public static RouteSpec? Parse(ReadOnlySpan<byte> payload)
    {
        if (payload[7] != Rtnl.RTN_UNICAST)
        {
            return null;
        }

        var family = payload[0];
        var destinationLength = payload[1];
        uint table = payload[4];
        var protocol = (RouteProtocol)payload[5];
        var scope = (RouteScope)payload[6];
        var flags = BinaryPrimitives.ReadUInt32LittleEndian(payload[8..]);
        var destination = family == Rtnl.AF_INET6 ? IPAddress.IPv6Any : IPAddress.Any;
        IPAddress? gateway = null;
        int? index = null;
        uint? metric = null;
        foreach (var attribute in new NetlinkAttributeEnumerator(payload[12..]))
        {
            switch (attribute.Type)
            {
                case Rtnl.RTA_DST:
                    destination = new IPAddress(attribute.Value);
                    break;
                case Rtnl.RTA_GATEWAY:
                    gateway = new IPAddress(attribute.Value);
                    break;
                case Rtnl.RTA_OIF:
                    index = attribute.AsI32();
                    break;
                case Rtnl.RTA_PRIORITY:
                    metric = attribute.AsU32();
                    break;
                case Rtnl.RTA_TABLE:
                    table = attribute.AsU32();
                    break;
            }
        }

        return new RouteSpec(new IPNetwork(destination, destinationLength), index)
        {
            Gateway = gateway,
            OnLink = (flags & Rtnl.RTNH_F_ONLINK) != 0,
            Scope = scope,
            Table = table,
            Protocol = protocol,
            Metric = metric,
        };
    }
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
