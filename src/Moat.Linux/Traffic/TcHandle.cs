using System.Globalization;

namespace Moat.Linux.Traffic;

/// <summary>A traffic control handle or class id, "major:minor" in hexadecimal as tc and nft write it.</summary>
public readonly record struct TcHandle(ushort Major, ushort Minor)
{
    /// <summary>TC_H_ROOT: the parent of a device's root qdisc.</summary>
    public static TcHandle Root => new(0xffff, 0xffff);

    /// <summary>The 32-bit value the kernel stores (major in the high half).</summary>
    public uint Value => ((uint)Major << 16) | Minor;

    public static TcHandle FromValue(uint value) => new((ushort)(value >> 16), (ushort)value);

    /// <summary>Parses "1:10" (hexadecimal, as tc and nft write class ids); "1:" is minor 0.</summary>
    public static TcHandle Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0
            || !ushort.TryParse(text.AsSpan(0, colon), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var major)
            || !TryParseMinor(text.AsSpan(colon + 1), out var minor))
        {
            throw new FormatException($"Traffic control handle '{text}' is not valid: write MAJOR:MINOR in hexadecimal, e.g. 10:1f.");
        }

        return new TcHandle(major, minor);
    }

    public override string ToString() => Value == Root.Value ? "root" : $"{Major:x}:{Minor:x}";

    private static bool TryParseMinor(ReadOnlySpan<char> text, out ushort minor)
    {
        minor = 0;
        return text.IsEmpty || ushort.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out minor);
    }
}
