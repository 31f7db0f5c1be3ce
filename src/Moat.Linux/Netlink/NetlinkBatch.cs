using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Moat.Linux.Namespaces;

namespace Moat.Linux.Netlink;

/// <summary>
/// Several rtnetlink requests sent to the kernel in one datagram by <see cref="RtNetlink.Execute"/>, each
/// acknowledged separately, so that one sandbox's plumbing costs one or two system calls.
/// </summary>
/// <remarks>
/// The kernel runs the requests in order and keeps going after one fails; it is not a transaction.
/// </remarks>
public sealed partial class NetlinkBatch
{
    internal const int MaxInterfaceNameBytes = 15;

    private readonly NetlinkWriter _writer = new();
    private readonly List<(int Offset, string Description)> _requests = [];
    private int _open = -1;

    public int Count => _requests.Count;

    internal NetlinkWriter Writer => _writer;

    internal IReadOnlyList<(int Offset, string Description)> Requests => _requests;

    /// <summary>Creates a veth pair; with <see cref="VethSpec.PeerNamespace"/> the peer is born inside that namespace.</summary>
    public NetlinkBatch AddVeth(VethSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ValidateInterfaceName(spec.Name, nameof(spec));
        if (spec.PeerName is not null)
        {
            ValidateInterfaceName(spec.PeerName, nameof(spec));
        }

        var w = Begin(Rtnl.RTM_NEWLINK, Rtnl.NLM_F_CREATE | Rtnl.NLM_F_EXCL, $"create veth {spec.Name} peer {spec.PeerName ?? "(kernel-named)"}");
        var up = spec.Up ? Rtnl.IFF_UP : 0;
        w.WriteIfInfo(Rtnl.AF_UNSPEC, 0, up, up);
        w.PutString(Rtnl.IFLA_IFNAME, spec.Name);
        PutLinkOptions(w, spec.Mtu, spec.Mac);
        var linkInfo = w.BeginNested(Rtnl.IFLA_LINKINFO);
        w.PutString(Rtnl.IFLA_INFO_KIND, "veth");
        var data = w.BeginNested(Rtnl.IFLA_INFO_DATA);
        var peer = w.BeginNested(Rtnl.VETH_INFO_PEER);
        w.WriteIfInfo(Rtnl.AF_UNSPEC, 0, 0, 0);
        if (spec.PeerName is not null)
        {
            w.PutString(Rtnl.IFLA_IFNAME, spec.PeerName);
        }

        if (spec.PeerNamespace is not null)
        {
            w.PutU32(Rtnl.IFLA_NET_NS_FD, (uint)spec.PeerNamespace.Handle.Number);
        }

        PutLinkOptions(w, spec.Mtu, spec.PeerMac);
        w.EndNested(peer);
        w.EndNested(data);
        w.EndNested(linkInfo);
        return End();
    }

    /// <summary>Creates a link of a kind that needs no options, e.g. "dummy".</summary>
    public NetlinkBatch AddLink(string name, string kind)
    {
        ValidateInterfaceName(name, nameof(name));
        var w = Begin(Rtnl.RTM_NEWLINK, Rtnl.NLM_F_CREATE | Rtnl.NLM_F_EXCL, $"create {kind} link {name}");
        w.WriteIfInfo(Rtnl.AF_UNSPEC, 0, 0, 0);
        w.PutString(Rtnl.IFLA_IFNAME, name);
        var linkInfo = w.BeginNested(Rtnl.IFLA_LINKINFO);
        w.PutString(Rtnl.IFLA_INFO_KIND, kind);
        w.EndNested(linkInfo);
        return End();
    }

    public NetlinkBatch SetLinkUp(string name) => SetLinkFlags(name, 0, up: true);

    public NetlinkBatch SetLinkUp(int index) => SetLinkFlags(null, index, up: true);

    public NetlinkBatch SetLinkDown(string name) => SetLinkFlags(name, 0, up: false);

    public NetlinkBatch SetLinkDown(int index) => SetLinkFlags(null, index, up: false);

    /// <summary>Renames a link; the kernel refuses while the link is up (EBUSY).</summary>
    public NetlinkBatch RenameLink(int index, string newName)
    {
        ValidateInterfaceName(newName, nameof(newName));
        var w = Begin(Rtnl.RTM_NEWLINK, 0, $"rename link #{index} to {newName}");
        w.WriteIfInfo(Rtnl.AF_UNSPEC, index, 0, 0);
        w.PutString(Rtnl.IFLA_IFNAME, newName);
        return End();
    }

    public NetlinkBatch SetMtu(int index, int mtu)
    {
        var w = Begin(Rtnl.RTM_NEWLINK, 0, $"set mtu {mtu} on link #{index}");
        w.WriteIfInfo(Rtnl.AF_UNSPEC, index, 0, 0);
        w.PutU32(Rtnl.IFLA_MTU, (uint)mtu);
        return End();
    }

    /// <summary>Deletes a link (for a veth, both ends go); the kernel has finished when the ACK arrives.</summary>
    public NetlinkBatch DeleteLink(string name)
    {
        ValidateInterfaceName(name, nameof(name));
        var w = Begin(Rtnl.RTM_DELLINK, 0, $"delete link {name}");
        w.WriteIfInfo(Rtnl.AF_UNSPEC, 0, 0, 0);
        w.PutString(Rtnl.IFLA_IFNAME, name);
        return End();
    }

    public NetlinkBatch DeleteLink(int index)
    {
        var w = Begin(Rtnl.RTM_DELLINK, 0, $"delete link #{index}");
        w.WriteIfInfo(Rtnl.AF_UNSPEC, index, 0, 0);
        return End();
    }

    /// <summary>Puts a link in device group <paramref name="group"/> (IFLA_GROUP), e.g. to delete many links in one go.</summary>
    public NetlinkBatch SetLinkGroup(string name, uint group)
    {
        ValidateInterfaceName(name, nameof(name));
        var w = Begin(Rtnl.RTM_NEWLINK, 0, $"put link {name} in group {group}");
        w.WriteIfInfo(Rtnl.AF_UNSPEC, 0, 0, 0);
        w.PutString(Rtnl.IFLA_IFNAME, name);
        w.PutU32(Rtnl.IFLA_GROUP, group);
        return End();
    }

    /// <summary>
    /// Deletes every link in device group <paramref name="group"/> with one unregistration, so the kernel waits
    /// for its RCU grace periods once for all of them instead of once per link.
    /// </summary>
    public NetlinkBatch DeleteLinkGroup(uint group)
    {
        if (group == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(group), group, "Group 0 is the default group every link is in; deleting it would delete them all.");
        }

        var w = Begin(Rtnl.RTM_DELLINK, 0, $"delete the links of group {group}");
        w.WriteIfInfo(Rtnl.AF_UNSPEC, 0, 0, 0);
        w.PutU32(Rtnl.IFLA_GROUP, group);
        return End();
    }

    /// <summary>Sets IPv4 per-interface settings (what /proc/sys/net/ipv4/conf/IF/... holds) through IFLA_AF_SPEC.</summary>
    public NetlinkBatch SetIpv4Settings(string name, params ReadOnlySpan<(Ipv4DeviceSetting Setting, uint Value)> settings)
    {
        ValidateInterfaceName(name, nameof(name));
        return SetIpv4Settings(name, 0, settings);
    }

    /// <summary>Sets IPv4 per-interface settings of the link with index <paramref name="index"/>.</summary>
    public NetlinkBatch SetIpv4Settings(int index, params ReadOnlySpan<(Ipv4DeviceSetting Setting, uint Value)> settings) =>
        SetIpv4Settings(null, index, settings);

    private NetlinkBatch SetIpv4Settings(string? name, int index, ReadOnlySpan<(Ipv4DeviceSetting Setting, uint Value)> settings)
    {
        var w = Begin(Rtnl.RTM_NEWLINK, 0, $"set ipv4 settings on {name ?? "#" + index}");
        w.WriteIfInfo(Rtnl.AF_UNSPEC, index, 0, 0);
        if (name is not null)
        {
            w.PutString(Rtnl.IFLA_IFNAME, name);
        }

        var spec = w.BeginNested(Rtnl.IFLA_AF_SPEC);
        var inet = w.BeginNested(Rtnl.AF_INET);
        var conf = w.BeginNested(Rtnl.IFLA_INET_CONF);
        foreach (var (setting, value) in settings)
        {
            w.PutU32((ushort)setting, value);
        }

        w.EndNested(conf);
        w.EndNested(inet);
        w.EndNested(spec);
        return End();
    }

    /// <summary>
    /// Sets the ARP proxy delay of one interface (neigh/IF/proxy_delay); the kernel's default of up to 0.8 s
    /// would otherwise delay every proxied ARP answer to a broadcast request.
    /// </summary>
    public NetlinkBatch SetArpProxyDelay(int index, TimeSpan delay)
    {
        var w = Begin(Rtnl.RTM_SETNEIGHTBL, 0, $"set arp proxy_delay on link #{index}");
        w.WriteNdtMsg(Rtnl.AF_INET);
        w.PutString(Rtnl.NDTA_NAME, "arp_cache");
        var parms = w.BeginNested(Rtnl.NDTA_PARMS);
        w.PutU32(Rtnl.NDTPA_IFINDEX, (uint)index);
        w.PutU64(Rtnl.NDTPA_PROXY_DELAY, (ulong)delay.TotalMilliseconds);
        w.EndNested(parms);
        return End();
    }

    public NetlinkBatch AddAddress(int index, IPAddress address, int prefixLength) =>
        Address(Rtnl.RTM_NEWADDR, Rtnl.NLM_F_CREATE | Rtnl.NLM_F_EXCL, index, address, prefixLength);

    public NetlinkBatch DeleteAddress(int index, IPAddress address, int prefixLength) =>
        Address(Rtnl.RTM_DELADDR, 0, index, address, prefixLength);

    public NetlinkBatch AddRoute(RouteSpec route) => Route(Rtnl.RTM_NEWROUTE, Rtnl.NLM_F_CREATE | Rtnl.NLM_F_EXCL, route, "add");

    public NetlinkBatch ReplaceRoute(RouteSpec route) => Route(Rtnl.RTM_NEWROUTE, Rtnl.NLM_F_CREATE | Rtnl.NLM_F_REPLACE, route, "replace");

    public NetlinkBatch DeleteRoute(RouteSpec route) => Route(Rtnl.RTM_DELROUTE, 0, route, "delete");

    internal static void ValidateInterfaceName(string name, string parameter)
    {
        ArgumentNullException.ThrowIfNull(name, parameter);
        var bytes = Encoding.UTF8.GetByteCount(name);
        if (bytes == 0 || bytes > MaxInterfaceNameBytes || name is "." or ".." || name.AsSpan().IndexOfAny('/', ':', '\0') >= 0 || name.Any(char.IsWhiteSpace))
        {
            throw new ArgumentException(
                $"Interface name '{name}' is not valid: use 1 to {MaxInterfaceNameBytes} bytes without '/', ':', whitespace, and not '.' or '..'.",
                parameter);
        }
    }

    private NetlinkBatch SetLinkFlags(string? name, int index, bool up)
    {
        if (name is not null)
        {
            ValidateInterfaceName(name, nameof(name));
        }

        var w = Begin(Rtnl.RTM_NEWLINK, 0, $"set link {name ?? "#" + index} {(up ? "up" : "down")}");
        w.WriteIfInfo(Rtnl.AF_UNSPEC, index, up ? Rtnl.IFF_UP : 0, Rtnl.IFF_UP);
        if (name is not null)
        {
            w.PutString(Rtnl.IFLA_IFNAME, name);
        }

        return End();
    }

    private NetlinkBatch Address(ushort type, ushort flags, int index, IPAddress address, int prefixLength)
    {
        ArgumentNullException.ThrowIfNull(address);
        var (family, bits) = Family(address);
        if (prefixLength < 0 || prefixLength > bits)
        {
            throw new ArgumentOutOfRangeException(nameof(prefixLength), prefixLength, $"Prefix length must be 0 to {bits} for {address}.");
        }

        var verb = type == Rtnl.RTM_NEWADDR ? "add" : "delete";
        var w = Begin(type, flags, $"{verb} address {address}/{prefixLength} on link #{index}");
        w.WriteIfAddr(family, (byte)prefixLength, family == Rtnl.AF_INET6 ? Rtnl.IFA_F_NODAD : (byte)0, 0, index);
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out var written);
        w.PutAttribute(Rtnl.IFA_LOCAL, bytes[..written]);
        w.PutAttribute(Rtnl.IFA_ADDRESS, bytes[..written]);
        return End();
    }

    private NetlinkBatch Route(ushort type, ushort flags, RouteSpec route, string verb)
    {
        ArgumentNullException.ThrowIfNull(route);
        var destination = route.Destination;
        var (family, _) = Family(destination.BaseAddress);
        if (route.Gateway is not null && Family(route.Gateway).Family != family)
        {
            throw new ArgumentException($"Gateway {route.Gateway} is not of the same address family as destination {destination}.", nameof(route));
        }

        var w = Begin(type, flags, $"{verb} route {destination}{(route.Gateway is null ? "" : " via " + route.Gateway)}{(route.InterfaceIndex is { } i ? " dev #" + i : "")}");
        var table = route.Table < 256 ? (byte)route.Table : Rtnl.RT_TABLE_UNSPEC;
        w.WriteRtMsg(family, (byte)destination.PrefixLength, table, (byte)route.Protocol, (byte)route.Scope, Rtnl.RTN_UNICAST, route.OnLink ? Rtnl.RTNH_F_ONLINK : 0);
        w.PutU32(Rtnl.RTA_TABLE, route.Table);
        Span<byte> bytes = stackalloc byte[16];
        if (destination.PrefixLength > 0)
        {
            destination.BaseAddress.TryWriteBytes(bytes, out var written);
            w.PutAttribute(Rtnl.RTA_DST, bytes[..written]);
        }

        if (route.Gateway is not null)
        {
            route.Gateway.TryWriteBytes(bytes, out var written);
            w.PutAttribute(Rtnl.RTA_GATEWAY, bytes[..written]);
        }

        if (route.InterfaceIndex is { } index)
        {
            w.PutU32(Rtnl.RTA_OIF, (uint)index);
        }

        if (route.Metric is { } metric)
        {
            w.PutU32(Rtnl.RTA_PRIORITY, metric);
        }

        return End();
    }

    private static (byte Family, int Bits) Family(IPAddress address) => address.AddressFamily switch
    {
        AddressFamily.InterNetwork => (Rtnl.AF_INET, 32),
        AddressFamily.InterNetworkV6 => (Rtnl.AF_INET6, 128),
        _ => throw new ArgumentException($"Address {address} is neither IPv4 nor IPv6.", nameof(address)),
    };

    private static void PutLinkOptions(NetlinkWriter w, int? mtu, System.Net.NetworkInformation.PhysicalAddress? mac)
    {
        if (mtu is { } m)
        {
            w.PutU32(Rtnl.IFLA_MTU, (uint)m);
        }

        if (mac is not null)
        {
            w.PutAttribute(Rtnl.IFLA_ADDRESS, mac.GetAddressBytes());
        }
    }

    private NetlinkWriter Begin(ushort type, ushort extraFlags, string description)
    {
        _open = _writer.BeginMessage(type, (ushort)(Rtnl.NLM_F_REQUEST | Rtnl.NLM_F_ACK | extraFlags), 0);
        _requests.Add((_open, description));
        return _writer;
    }

    private NetlinkBatch End()
    {
        _writer.EndMessage(_open);
        return this;
    }

    /// <summary>Numbers the requests from <paramref name="firstSequence"/> just before sending.</summary>
    internal void Stamp(uint firstSequence)
    {
        var span = _writer.WrittenSpanMutable;
        for (var i = 0; i < _requests.Count; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(span[(_requests[i].Offset + 8)..], firstSequence + (uint)i);
        }
    }
}
