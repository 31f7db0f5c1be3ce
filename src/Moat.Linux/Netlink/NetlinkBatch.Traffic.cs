using Moat.Linux.Traffic;

namespace Moat.Linux.Netlink;

// Traffic control requests (qdiscs and HTB classes); the encoding lives in Moat.Linux.Traffic.
public sealed partial class NetlinkBatch
{
    /// <summary>Attaches an HTB qdisc; <paramref name="replace"/> swaps out whatever qdisc held that place.</summary>
    public NetlinkBatch AddHtbQdisc(int index, TcHandle handle, TcHandle parent, ushort defaultMinor, bool replace = false)
    {
        var flags = replace ? Rtnl.NLM_F_CREATE | Rtnl.NLM_F_REPLACE : Rtnl.NLM_F_CREATE | Rtnl.NLM_F_EXCL;
        var w = Begin(Tc.RTM_NEWQDISC, (ushort)flags, $"add htb qdisc {handle} parent {parent} on link #{index}");
        w.WriteTcMsg(Rtnl.AF_UNSPEC, index, handle.Value, parent.Value, 0);
        TcEncoding.WriteHtbQdisc(w, defaultMinor);
        return End();
    }

    public NetlinkBatch DeleteQdisc(int index, TcHandle handle, TcHandle parent)
    {
        var w = Begin(Tc.RTM_DELQDISC, 0, $"delete qdisc {handle} parent {parent} on link #{index}");
        w.WriteTcMsg(Rtnl.AF_UNSPEC, index, handle.Value, parent.Value, 0);
        return End();
    }

    /// <summary>Creates the HTB class, or changes its rates in place when it exists (its queue and counters stay).</summary>
    public NetlinkBatch SetHtbClass(int index, HtbClassSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var w = Begin(Tc.RTM_NEWTCLASS, Rtnl.NLM_F_CREATE, $"set htb class {spec.ClassId} parent {spec.Parent} on link #{index}");
        w.WriteTcMsg(Rtnl.AF_UNSPEC, index, spec.ClassId.Value, spec.Parent.Value, 0);
        TcEncoding.WriteHtbClass(w, spec);
        return End();
    }

    /// <summary>Deletes a class; the kernel refuses (EBUSY) while it has children.</summary>
    public NetlinkBatch DeleteClass(int index, TcHandle classId)
    {
        var w = Begin(Tc.RTM_DELTCLASS, 0, $"delete class {classId} on link #{index}");
        w.WriteTcMsg(Rtnl.AF_UNSPEC, index, classId.Value, 0, 0);
        return End();
    }
}
