using System.Buffers.Binary;
using System.Net;
using Moat.Linux.Nftables;

namespace Moat.Containment.Rules;

/// <summary>Turns prefixes into the disjoint start/end elements an interval set needs (the kernel refuses overlaps).</summary>
internal static class Intervals
{
    public static List<NftElement> Elements(IEnumerable<IPNetwork> prefixes)
    {
        var ranges = prefixes
            .Select(p => (Start: (ulong)BinaryPrimitives.ReadUInt32BigEndian(p.BaseAddress.GetAddressBytes()), Size: 1UL << (32 - p.PrefixLength)))
            .Select(r => (r.Start, End: r.Start + r.Size))
            .OrderBy(r => r.Start)
            .ToList();
        var merged = new List<(ulong Start, ulong End)>();
        foreach (var r in ranges)
        {
            if (merged.Count > 0 && r.Start <= merged[^1].End)
            {
                merged[^1] = (merged[^1].Start, Math.Max(merged[^1].End, r.End));
            }
            else
            {
                merged.Add(r);
            }
        }

        var elements = new List<NftElement>(merged.Count * 2);
        foreach (var (start, end) in merged)
        {
            elements.Add(new NftElement(Key(start)));
            if (end <= uint.MaxValue)
            {
                elements.Add(new NftElement(Key(end), IntervalEnd: true));
            }
        }

        return elements;
    }

    private static byte[] Key(ulong value)
    {
        var key = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(key, (uint)value);
        return key;
    }
}
