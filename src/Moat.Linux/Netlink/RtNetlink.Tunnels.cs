using System.Buffers.Binary;
using System.Net;

namespace Moat.Linux.Netlink;

public sealed partial class RtNetlink
{
    public void CreateVxlan(VxlanSpec spec) => ExecuteOne(b => b.AddVxlan(spec));

    public void AddRule(RuleSpec rule) => ExecuteOne(b => b.AddRule(rule));

    /// <summary>Deletes a policy-routing rule; false when there is no such rule (so teardown can be repeated).</summary>
    public bool DeleteRule(RuleSpec rule) => Absent(SendOne(b => b.DeleteRule(rule), out var d), Errno.ENOENT, d);

    /// <summary>The IPv4 and IPv6 policy-routing rules that send packets to a table (the kernel's defaults included).</summary>
    public IReadOnlyList<RuleSpec> ListRules() =>
        [.. Dump(RtnlTunnels.RTM_GETRULE, RtnlTunnels.RTM_NEWRULE, "rules", w => w.WriteRtMsg(Rtnl.AF_UNSPEC, 0, 0, 0, 0, 0, 0), RuleParser.Parse).OfType<RuleSpec>()];

    /// <summary>The VXLAN links of this socket's namespace with their id and endpoints, for reconciliation.</summary>
    public IReadOnlyList<VxlanInfo> ListVxlans() =>
        [.. Dump(Rtnl.RTM_GETLINK, Rtnl.RTM_NEWLINK, "links", w =>
        {
            w.WriteIfInfo(Rtnl.AF_UNSPEC, 0, 0, 0);
            w.PutU32(Rtnl.IFLA_EXT_MASK, Rtnl.RTEXT_FILTER_SKIP_STATS);
        }, VxlanParser.Parse).OfType<VxlanInfo>()];
}

/// <summary>Turns an RTM_NEWRULE payload (fib_rule_hdr + attributes) into a <see cref="RuleSpec"/>, or null for rules that do not look up a table.</summary>
internal static class RuleParser
{
    public static RuleSpec? Parse(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < 12 || payload[7] != RtnlTunnels.FR_ACT_TO_TBL)
        {
            return null;
        }

        var family = payload[0];
        int destinationLength = payload[1], sourceLength = payload[2];
        uint table = payload[4], priority = 0;
        IPAddress? source = null, destination = null;
        foreach (var attribute in new NetlinkAttributeEnumerator(payload[12..]))
        {
            switch (attribute.Type)
            {
                case RtnlTunnels.FRA_SRC:
                    source = new IPAddress(attribute.Value);
                    break;
                case RtnlTunnels.FRA_DST:
                    destination = new IPAddress(attribute.Value);
                    break;
                case RtnlTunnels.FRA_TABLE:
                    table = attribute.AsU32();
                    break;
                case RtnlTunnels.FRA_PRIORITY:
                    priority = attribute.AsU32();
                    break;
            }
        }

        return new RuleSpec(priority, table)
        {
            Source = source is null ? null : new IPNetwork(source, sourceLength),
            Destination = destination is null ? null : new IPNetwork(destination, destinationLength),
            IPv6 = family == Rtnl.AF_INET6,
        };
    }
}

/// <summary>Turns an RTM_NEWLINK payload into a <see cref="VxlanInfo"/>, or null when the link is not a VXLAN.</summary>
internal static class VxlanParser
{
    public static VxlanInfo? Parse(ReadOnlySpan<byte> payload)
    {
        var index = BinaryPrimitives.ReadInt32LittleEndian(payload[4..]);
        var flags = BinaryPrimitives.ReadUInt32LittleEndian(payload[8..]);
        string name = "";
        var isVxlan = false;
        uint vni = 0;
        ushort port = 0;
        IPAddress? remote = null, local = null;
        foreach (var attribute in new NetlinkAttributeEnumerator(payload[16..]))
        {
            if (attribute.Type == Rtnl.IFLA_IFNAME)
            {
                name = attribute.AsString();
            }
            else if (attribute.Type == Rtnl.IFLA_LINKINFO)
            {
                foreach (var info in attribute.Nested())
                {
                    if (info.Type == Rtnl.IFLA_INFO_KIND)
                    {
                        isVxlan = info.AsString() == "vxlan";
                    }
                    else if (info.Type == Rtnl.IFLA_INFO_DATA)
                    {
                        foreach (var data in info.Nested())
                        {
                            switch (data.Type)
                            {
                                case RtnlTunnels.IFLA_VXLAN_ID:
                                    vni = data.AsU32();
                                    break;
                                case RtnlTunnels.IFLA_VXLAN_GROUP or RtnlTunnels.IFLA_VXLAN_GROUP6:
                                    remote = new IPAddress(data.Value);
                                    break;
                                case RtnlTunnels.IFLA_VXLAN_LOCAL or RtnlTunnels.IFLA_VXLAN_LOCAL6:
                                    local = new IPAddress(data.Value);
                                    break;
                                case RtnlTunnels.IFLA_VXLAN_PORT:
                                    port = BinaryPrimitives.ReadUInt16BigEndian(data.Value);
                                    break;
                            }
                        }
                    }
                }
            }
        }

        return isVxlan ? new VxlanInfo(name, index, vni, remote, local, port, (flags & Rtnl.IFF_UP) != 0) : null;
    }
}
