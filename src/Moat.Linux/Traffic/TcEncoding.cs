using System.Buffers.Binary;
using Moat.Linux.Netlink;

namespace Moat.Linux.Traffic;

/// <summary>Lays out tcmsg payloads for HTB qdiscs and classes, and reads them back from dumps.</summary>
internal static class TcEncoding
{
    /// <summary>TCA_KIND "htb" and TCA_OPTIONS { TCA_HTB_INIT tc_htb_glob } for a root qdisc.</summary>
    public static void WriteHtbQdisc(NetlinkWriter w, ushort defaultMinor)
    {
        w.PutString(Tc.TCA_KIND, "htb");
        var options = w.BeginNested(Tc.TCA_OPTIONS);
        Span<byte> glob = stackalloc byte[Tc.HtbGlobLength];
        glob.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(glob, Tc.TC_HTB_PROTOVER);
        BinaryPrimitives.WriteUInt32LittleEndian(glob[4..], Tc.HtbRateToQuantum);
        BinaryPrimitives.WriteUInt32LittleEndian(glob[8..], defaultMinor);
        w.PutAttribute(Tc.TCA_HTB_INIT, glob);
        w.EndNested(options);
    }

    /// <summary>
    /// TCA_KIND "htb" and TCA_OPTIONS { TCA_HTB_PARMS tc_htb_opt, TCA_HTB_RATE64/CEIL64 above 32 bits of bytes/s }.
    /// The rate specs say Ethernet link layer, so the kernel computes transmit times itself and needs no rate tables.
    /// </summary>
    public static void WriteHtbClass(NetlinkWriter w, HtbClassSpec spec)
    {
        var rateBytes = spec.RateBitsPerSecond / 8;
        var ceilBytes = spec.CeilBitsPerSecond / 8;
        if (rateBytes == 0 || ceilBytes == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(spec), $"HTB class {spec.ClassId} needs a rate and ceil of at least 8 bit/s.");
        }

        w.PutString(Tc.TCA_KIND, "htb");
        var options = w.BeginNested(Tc.TCA_OPTIONS);
        if (rateBytes > uint.MaxValue)
        {
            w.PutU64(Tc.TCA_HTB_RATE64, rateBytes);
        }

        if (ceilBytes > uint.MaxValue)
        {
            w.PutU64(Tc.TCA_HTB_CEIL64, ceilBytes);
        }

        Span<byte> opt = stackalloc byte[Tc.HtbOptLength];
        opt.Clear();
        WriteRateSpec(opt, rateBytes);
        WriteRateSpec(opt[12..], ceilBytes);
        BinaryPrimitives.WriteUInt32LittleEndian(opt[24..], BufferTicks(rateBytes, spec.Mtu));
        BinaryPrimitives.WriteUInt32LittleEndian(opt[28..], BufferTicks(ceilBytes, spec.Mtu));
        var quantum = spec.QuantumBytes ?? (uint)Math.Clamp(rateBytes / Tc.HtbRateToQuantum, (ulong)spec.Mtu, 200_000UL);
        BinaryPrimitives.WriteUInt32LittleEndian(opt[32..], quantum);
        BinaryPrimitives.WriteUInt32LittleEndian(opt[40..], spec.Priority);
        w.PutAttribute(Tc.TCA_HTB_PARMS, opt);
        w.EndNested(options);
    }

    /// <summary>Reads an RTM_NEWQDISC / RTM_NEWTCLASS payload (tcmsg + attributes).</summary>
    public static TcObject Parse(ReadOnlySpan<byte> payload)
    {
        var index = BinaryPrimitives.ReadInt32LittleEndian(payload[4..]);
        var handle = TcHandle.FromValue(BinaryPrimitives.ReadUInt32LittleEndian(payload[8..]));
        var parent = TcHandle.FromValue(BinaryPrimitives.ReadUInt32LittleEndian(payload[12..]));
        var kind = "";
        ulong? rate = null, ceil = null, rate64 = null, ceil64 = null;
        ulong bytes = 0;
        uint packets = 0;
        foreach (var attribute in new NetlinkAttributeEnumerator(payload[Tc.TcMsgLength..]))
        {
            if (attribute.Type == Tc.TCA_KIND)
            {
                kind = attribute.AsString();
            }
            else if (attribute.Type == Tc.TCA_STATS2)
            {
                foreach (var stat in attribute.Nested())
                {
                    // struct gnet_stats_basic: __u64 bytes; __u32 packets.
                    if (stat.Type == Tc.TCA_STATS_BASIC && stat.Value.Length >= 12)
                    {
                        bytes = BinaryPrimitives.ReadUInt64LittleEndian(stat.Value);
                        packets = BinaryPrimitives.ReadUInt32LittleEndian(stat.Value[8..]);
                    }
                }
            }
            else if (attribute.Type == Tc.TCA_OPTIONS && kind == "htb")
            {
                foreach (var option in attribute.Nested())
                {
                    switch (option.Type)
                    {
                        case Tc.TCA_HTB_PARMS when option.Value.Length >= Tc.HtbOptLength:
                            rate = BinaryPrimitives.ReadUInt32LittleEndian(option.Value[8..]);
                            ceil = BinaryPrimitives.ReadUInt32LittleEndian(option.Value[20..]);
                            break;
                        case Tc.TCA_HTB_RATE64:
                            rate64 = BinaryPrimitives.ReadUInt64LittleEndian(option.Value);
                            break;
                        case Tc.TCA_HTB_CEIL64:
                            ceil64 = BinaryPrimitives.ReadUInt64LittleEndian(option.Value);
                            break;
                    }
                }
            }
        }

        return new TcObject(index, handle, parent, kind)
        {
            RateBitsPerSecond = rate is null ? null : Math.Max(rate.Value, rate64 ?? 0) * 8,
            CeilBitsPerSecond = ceil is null ? null : Math.Max(ceil.Value, ceil64 ?? 0) * 8,
            Bytes = bytes,
            Packets = packets,
        };
    }

    private static void WriteRateSpec(Span<byte> spec, ulong bytesPerSecond)
    {
        // cell_log 0, linklayer, overhead 0, cell_align 0, mpu 0, rate (saturated; RATE64 carries the rest).
        spec[1] = Tc.TC_LINKLAYER_ETHERNET;
        BinaryPrimitives.WriteUInt32LittleEndian(spec[8..], (uint)Math.Min(bytesPerSecond, uint.MaxValue));
    }

    /// <summary>Time to send one millisecond's worth of bytes plus one frame at this rate, in psched ticks (as tc computes its default).</summary>
    private static uint BufferTicks(ulong bytesPerSecond, int mtu)
    {
        var burst = (bytesPerSecond / 1000.0) + mtu;
        var nanoseconds = burst / bytesPerSecond * 1e9;
        return (uint)Math.Min(nanoseconds / (1 << Tc.PschedShift), uint.MaxValue);
    }
}
