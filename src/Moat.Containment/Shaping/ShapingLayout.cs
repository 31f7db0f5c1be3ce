using Moat.Linux.Traffic;

namespace Moat.Containment.Shaping;

/// <summary>
/// Where every class lives. On each uplink (handle 10:): 10:1 the link, 10:2 the host (default class), 10:3 the
/// sandboxes' pool, and per sandbox slot S sixteen ids 10:S0..10:Sf (S0 its aggregate cap, S1..Se its flow classes,
/// Sf the rest). On a sandbox's host veth (handle 20:): 20:1 its ingress cap, 20:11..20:1e flow classes, 20:1f the rest.
/// </summary>
internal static class ShapingLayout
{
    public const ushort UplinkMajor = 0x10;
    public const ushort VethMajor = 0x20;
    public const ushort HostMinor = 2;
    public const ushort PoolMinor = 3;
    public const ushort VethCapMinor = 1;
    public const ushort VethRestMinor = 0x1f;
    public const int MaxSlot = 0xffe;
    public const int RestIndex = 15;

    /// <summary>Every sandbox aggregate class gets the same quantum, so spare uplink bandwidth is split equally between sandboxes.</summary>
    public const uint SandboxQuantum = 16_000;

    public static TcHandle UplinkQdisc => new(UplinkMajor, 0);

    public static TcHandle VethQdisc => new(VethMajor, 0);

    public static TcHandle UplinkClass(int slot, int index) => new(UplinkMajor, (ushort)((slot << 4) | index));

    public static TcHandle VethClass(int index) => new(VethMajor, index == 0 ? VethCapMinor : (ushort)(0x10 | index));

    /// <summary>The slot an uplink class belongs to, or 0 for the link/host/pool classes.</summary>
    public static int SlotOf(TcHandle classId) => classId.Major == UplinkMajor ? classId.Minor >> 4 : 0;

    /// <summary>10:1, 10:2, 10:3 for one uplink.</summary>
    public static IReadOnlyList<HtbClassSpec> UplinkTree(UplinkShaping uplink, double hostShare)
    {
        var link = uplink.Bandwidth.BitsPerSecond;
        var host = Math.Max(BitRate.Minimum.BitsPerSecond, (ulong)(link * hostShare));
        var pool = Math.Max(BitRate.Minimum.BitsPerSecond, link - Math.Min(host, link));
        var root = new TcHandle(UplinkMajor, 1);
        return
        [
            new HtbClassSpec(root, UplinkQdisc, link, link),
            new HtbClassSpec(new TcHandle(UplinkMajor, HostMinor), root, host, link),
            new HtbClassSpec(new TcHandle(UplinkMajor, PoolMinor), root, pool, link),
        ];
    }

    /// <summary>
    /// A sandbox's classes on one uplink, parents first. Leaves are guaranteed only a share of the aggregate's rate
    /// and borrow the rest up to their own limit: HTB lets a class send at its guaranteed rate without asking its
    /// parent, so the leaves' rates must add up to no more than the cap for the cap to hold.
    /// </summary>
    public static IReadOnlyList<HtbClassSpec> SandboxUplinkClasses(int slot, SandboxRates rates, BitRate guaranteed)
    {
        var cap = rates.Egress.BitsPerSecond;
        var aggregateRate = Math.Min(guaranteed.BitsPerSecond, cap);
        var aggregate = UplinkClass(slot, 0);
        var specs = new List<HtbClassSpec>
        {
            new(aggregate, new TcHandle(UplinkMajor, PoolMinor), aggregateRate, cap) { QuantumBytes = SandboxQuantum },
        };
        AddLeaves(specs, rates, aggregate, aggregateRate, cap, j => UplinkClass(slot, j));
        return specs;
    }

    /// <summary>A sandbox's classes on its host veth (toward the sandbox), parents first; empty when ingress is unshaped.</summary>
    public static IReadOnlyList<HtbClassSpec> SandboxVethClasses(SandboxRates rates)
    {
        if (rates.Ingress is not { } ingress)
        {
            return [];
        }

        var cap = ingress.BitsPerSecond;
        var top = VethClass(0);
        var specs = new List<HtbClassSpec> { new(top, VethQdisc, cap, cap) };
        AddLeaves(specs, rates, top, cap, cap, VethClass);
        return specs;
    }

    private static void AddLeaves(List<HtbClassSpec> specs, SandboxRates rates, TcHandle parent, ulong parentRate, ulong cap, Func<int, TcHandle> classId)
    {
        var leaves = rates.Flows.Count + 1;
        // 8 bit/s is one byte per second, the least the kernel can express.
        var share = Math.Max(8UL, parentRate / (ulong)leaves);
        for (var j = 1; j <= rates.Flows.Count; j++)
        {
            var ceil = Math.Min(rates.Flows[j - 1].Rate?.BitsPerSecond ?? cap, cap);
            specs.Add(new HtbClassSpec(classId(j), parent, Math.Min(share, ceil), ceil));
        }

        var restCeil = Math.Min(rates.Rest?.BitsPerSecond ?? cap, cap);
        specs.Add(new HtbClassSpec(classId(RestIndex), parent, Math.Min(share, restCeil), restCeil));
    }
}
