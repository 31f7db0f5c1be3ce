using System.Globalization;

namespace Moat.Containment.Shaping;

/// <summary>A bandwidth in bits per second (SI prefixes, as tc writes them: 1mbit = 1,000,000 bit/s).</summary>
public readonly record struct BitRate : IComparable<BitRate>
{
    /// <summary>Below this HTB's burst would span seconds and the limit stops being a rate.</summary>
    public static readonly BitRate Minimum = new(8_000);

    /// <summary>Above this a figure is a typing mistake, not a link on this kind of host.</summary>
    public static readonly BitRate Maximum = new(100_000_000_000);

    private static readonly (string Suffix, ulong Factor)[] Units =
    [
        ("gbit", 1_000_000_000), ("mbit", 1_000_000), ("kbit", 1_000), ("bit", 1),
    ];

    private BitRate(ulong bitsPerSecond) => BitsPerSecond = bitsPerSecond;

    public ulong BitsPerSecond { get; }

    /// <summary>A rate from a number of bits per second; <paramref name="what"/> names it in the refusal.</summary>
    /// <exception cref="ShapingInputException">The value is outside 8kbit to 100gbit.</exception>
    public static BitRate FromBitsPerSecond(long bitsPerSecond, string what = "rate")
    {
        if (bitsPerSecond < (long)Minimum.BitsPerSecond || bitsPerSecond > (long)Maximum.BitsPerSecond)
        {
            throw new ShapingInputException(
                $"The {what} of {bitsPerSecond.ToString(CultureInfo.InvariantCulture)} bit/s is not valid: use {Minimum} to {Maximum}.");
        }

        return new BitRate((ulong)bitsPerSecond);
    }

    /// <summary>Parses "20mbit", "1.5 Gbit/s", "500kbit" or a plain number of bit/s.</summary>
    /// <exception cref="ShapingInputException">The text is not a rate from 8kbit to 100gbit.</exception>
    public static BitRate Parse(string text, string what = "rate")
    {
        ArgumentNullException.ThrowIfNull(text);
        var t = text.Trim().ToLowerInvariant().Replace(" ", "", StringComparison.Ordinal);
        if (t.EndsWith("/s", StringComparison.Ordinal))
        {
            t = t[..^2];
        }

        ulong factor = 1;
        foreach (var (suffix, f) in Units)
        {
            if (t.EndsWith(suffix, StringComparison.Ordinal))
            {
                t = t[..^suffix.Length];
                factor = f;
                break;
            }
        }

        if (!decimal.TryParse(t, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number)
            || number < (decimal)Minimum.BitsPerSecond / factor || number > (decimal)Maximum.BitsPerSecond / factor)
        {
            throw new ShapingInputException(
                $"The {what} '{text}' is not valid: write a number with bit, kbit, mbit or gbit such as 20mbit, from {Minimum} to {Maximum}.");
        }

        return new BitRate((ulong)decimal.Round(number * factor));
    }

    public static BitRate Min(BitRate a, BitRate b) => a.BitsPerSecond <= b.BitsPerSecond ? a : b;

    public int CompareTo(BitRate other) => BitsPerSecond.CompareTo(other.BitsPerSecond);

    public static bool operator <(BitRate a, BitRate b) => a.BitsPerSecond < b.BitsPerSecond;

    public static bool operator >(BitRate a, BitRate b) => a.BitsPerSecond > b.BitsPerSecond;

    public static bool operator <=(BitRate a, BitRate b) => a.BitsPerSecond <= b.BitsPerSecond;

    public static bool operator >=(BitRate a, BitRate b) => a.BitsPerSecond >= b.BitsPerSecond;

    /// <summary>The rate in the largest unit that is at least 1, e.g. "1.5gbit" (display only: three decimals at most).</summary>
    public override string ToString()
    {
        foreach (var (suffix, factor) in Units)
        {
            if (BitsPerSecond >= factor)
            {
                return ((decimal)BitsPerSecond / factor).ToString("0.###", CultureInfo.InvariantCulture) + suffix;
            }
        }

        return "0bit";
    }
}
