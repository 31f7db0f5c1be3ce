namespace Moat.Linux.Traffic;

/// <summary>Numbers from linux/rtnetlink.h, pkt_sched.h and pkt_cls.h for traffic control messages.</summary>
internal static class Tc
{
    public const ushort NLM_F_ECHO = 0x8;
    public const ushort RTM_NEWQDISC = 36;
    public const ushort RTM_DELQDISC = 37;
    public const ushort RTM_GETQDISC = 38;
    public const ushort RTM_NEWTCLASS = 40;
    public const ushort RTM_DELTCLASS = 41;
    public const ushort RTM_GETTCLASS = 42;

    // TCA_*
    public const ushort TCA_KIND = 1;
    public const ushort TCA_OPTIONS = 2;
    public const ushort TCA_STATS2 = 7;
    public const ushort TCA_STATS_BASIC = 1;

    // TCA_HTB_*
    public const ushort TCA_HTB_PARMS = 1;
    public const ushort TCA_HTB_INIT = 2;
    public const ushort TCA_HTB_RATE64 = 6;
    public const ushort TCA_HTB_CEIL64 = 7;

    public const uint TC_HTB_PROTOVER = 3;
    public const uint HtbRateToQuantum = 10;

    /// <summary>TC_LINKLAYER_ETHERNET: the kernel computes transmit times itself, no rate table needed.</summary>
    public const byte TC_LINKLAYER_ETHERNET = 1;

    public const int TcMsgLength = 20;
    public const int HtbOptLength = 44;
    public const int HtbGlobLength = 20;

    /// <summary>psched ticks are 64 ns (PSCHED_SHIFT 6), the unit of tc_htb_opt.buffer and cbuffer.</summary>
    public const int PschedShift = 6;
}
