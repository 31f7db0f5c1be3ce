using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace Moat.Linux.Netlink;

public sealed partial class NetlinkBatch
{
    /// <summary>Creates a unicast VXLAN link (learning off: the only neighbour is the remote end).</summary>
    public NetlinkBatch AddVxlan(VxlanSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ValidateInterfaceName(spec.Name, nameof(spec));
        if (spec.Vni is 0 or > RtnlTunnels.MaxVni)
        {
            throw new ArgumentOutOfRangeException(nameof(spec), spec.Vni, $"VXLAN id {spec.Vni} is not valid: use 1 to {RtnlTunnels.MaxVni}.");
        }

        if (spec.Local is not null && spec.Remote.AddressFamily != spec.Local.AddressFamily)
        {
            throw new ArgumentException($"VXLAN remote {spec.Remote} and local {spec.Local} are not of the same address family.", nameof(spec));
        }

        var v6 = spec.Remote.AddressFamily == AddressFamily.InterNetworkV6;
        var w = Begin(Rtnl.RTM_NEWLINK, Rtnl.NLM_F_CREATE | Rtnl.NLM_F_EXCL, $"create vxlan {spec.Name} id {spec.Vni} remote {spec.Remote} local {spec.Local?.ToString() ?? "(routed)"}");
        var up = spec.Up ? Rtnl.IFF_UP : 0;
        w.WriteIfInfo(Rtnl.AF_UNSPEC, 0, up, up);
        w.PutString(Rtnl.IFLA_IFNAME, spec.Name);
        if (spec.Mtu is { } mtu)
        {
            w.PutU32(Rtnl.IFLA_MTU, (uint)mtu);
        }

        var linkInfo = w.BeginNested(Rtnl.IFLA_LINKINFO);
        w.PutString(Rtnl.IFLA_INFO_KIND, "vxlan");
        var data = w.BeginNested(Rtnl.IFLA_INFO_DATA);
        w.PutU32(RtnlTunnels.IFLA_VXLAN_ID, spec.Vni);
        w.PutAttribute(v6 ? RtnlTunnels.IFLA_VXLAN_GROUP6 : RtnlTunnels.IFLA_VXLAN_GROUP, spec.Remote.GetAddressBytes());
        if (spec.Local is not null)
        {
            w.PutAttribute(v6 ? RtnlTunnels.IFLA_VXLAN_LOCAL6 : RtnlTunnels.IFLA_VXLAN_LOCAL, spec.Local.GetAddressBytes());
        }
        if (spec.UnderlayInterfaceIndex is { } underlay)
        {
            w.PutU32(RtnlTunnels.IFLA_VXLAN_LINK, (uint)underlay);
        }

        w.PutAttribute(RtnlTunnels.IFLA_VXLAN_LEARNING, [0]);
        Span<byte> port = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(port, spec.DestinationPort);
        w.PutAttribute(RtnlTunnels.IFLA_VXLAN_PORT, port);
        w.EndNested(data);
        w.EndNested(linkInfo);
        return End();
    }

    /// <summary>Adds a policy-routing rule (ip rule add); the kernel refuses an identical one with EEXIST.</summary>
    public NetlinkBatch AddRule(RuleSpec rule) => Rule(RtnlTunnels.RTM_NEWRULE, Rtnl.NLM_F_CREATE | Rtnl.NLM_F_EXCL, rule, "add");

    /// <summary>Deletes the policy-routing rule that matches every field of <paramref name="rule"/>.</summary>
    public NetlinkBatch DeleteRule(RuleSpec rule) => Rule(RtnlTunnels.RTM_DELRULE, 0, rule, "delete");

    internal static string Describe(RuleSpec rule) =>
        $"rule {rule.Priority}: from {rule.Source?.ToString() ?? "all"}{(rule.Destination is { } d ? " to " + d : "")}{(rule.InputInterface is { } i ? " iif " + i : "")} lookup {rule.Table}";

    private NetlinkBatch Rule(ushort type, ushort flags, RuleSpec rule, string verb)
    {
        ArgumentNullException.ThrowIfNull(rule);
        var family = RuleFamily(rule);
        var w = Begin(type, flags, $"{verb} {Describe(rule)}");

        // struct fib_rule_hdr has rtmsg's layout: family, dst_len, src_len, tos, table, res1, res2, action, flags.
        var table = rule.Table < 256 ? (byte)rule.Table : Rtnl.RT_TABLE_UNSPEC;
        w.WriteRtMsg(family, (byte)(rule.Destination?.PrefixLength ?? 0), table, 0, 0, RtnlTunnels.FR_ACT_TO_TBL, 0);
        w.WrittenSpanMutable[w.Length - 10] = (byte)(rule.Source?.PrefixLength ?? 0);
        w.PutU32(RtnlTunnels.FRA_TABLE, rule.Table);
        w.PutU32(RtnlTunnels.FRA_PRIORITY, rule.Priority);
        if (rule.Source is { } source && source.PrefixLength > 0)
        {
            w.PutAttribute(RtnlTunnels.FRA_SRC, source.BaseAddress.GetAddressBytes());
        }

        if (rule.Destination is { } destination && destination.PrefixLength > 0)
        {
            w.PutAttribute(RtnlTunnels.FRA_DST, destination.BaseAddress.GetAddressBytes());
        }

        if (rule.InputInterface is { } inputInterface)
        {
            ValidateInterfaceName(inputInterface, nameof(rule));
            w.PutString(RtnlTunnels.FRA_IIFNAME, inputInterface);
        }

        if (type == RtnlTunnels.RTM_NEWRULE)
        {
            w.PutAttribute(RtnlTunnels.FRA_PROTOCOL, [RtnlTunnels.ProtocolStatic]);
        }

        return End();
    }

    private static byte RuleFamily(RuleSpec rule)
    {
        var families = new[] { rule.Source, rule.Destination }
            .OfType<IPNetwork>()
            .Select(n => n.BaseAddress.AddressFamily)
            .Distinct()
            .ToArray();
        if (families.Length > 1)
        {
            throw new ArgumentException($"Rule source {rule.Source} and destination {rule.Destination} are not of the same address family.", nameof(rule));
        }

        var v6 = families.Length == 1 ? families[0] == AddressFamily.InterNetworkV6 : rule.IPv6;
        return v6 ? Rtnl.AF_INET6 : Rtnl.AF_INET;
    }
}
