namespace Moat.Monitor.Packages;

/// <summary>
/// A Debian package version ([epoch:]upstream[-revision]) ordered exactly as dpkg orders them (deb-version(7)):
/// epochs numerically, then upstream and revision alternating non-digit runs (letters before non-letters,
/// '~' before everything, even the end) and digit runs compared numerically.
/// </summary>
public sealed record DebianVersion(int Epoch, string Upstream, string Revision) : IComparable<DebianVersion>
{
    /// <summary>Parses a version string; throws <see cref="FormatException"/> naming what is wrong.</summary>
    public static DebianVersion Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string s = text.Trim();
        if (s.Length == 0)
        {
            throw new FormatException("The Debian version is empty; expected [epoch:]upstream[-revision], e.g. 1:2.36-9+deb12u4.");
        }

        int epoch = 0;
        int colon = s.IndexOf(':');
        if (colon >= 0)
        {
            string epochText = s[..colon];
            if (epochText.Length == 0 || !epochText.All(char.IsAsciiDigit) || !int.TryParse(epochText, out epoch))
            {
                throw new FormatException($"The Debian version '{text}' has epoch '{epochText}'; the epoch must be a non-negative integer.");
            }

            s = s[(colon + 1)..];
        }

        string revision = "";
        int hyphen = s.LastIndexOf('-');
        if (hyphen >= 0)
        {
            revision = s[(hyphen + 1)..];
            s = s[..hyphen];
        }

        if (s.Length == 0 || !char.IsAsciiDigit(s[0]))
        {
            throw new FormatException($"The Debian version '{text}' has upstream part '{s}'; it must start with a digit.");
        }

        foreach (char c in s)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '+' or '-' or '~' or ':'))
            {
                throw new FormatException($"The Debian version '{text}' contains '{c}'; only letters, digits and . + - ~ are allowed.");
            }
        }

        return new DebianVersion(epoch, s, revision);
    }

    public static bool TryParse(string text, out DebianVersion? version)
    {
        try
        {
            version = Parse(text);
            return true;
        }
        catch (FormatException)
        {
            version = null;
            return false;
        }
    }

    /// <summary>Compares two version strings as dpkg --compare-versions does.</summary>
    public static int Compare(string a, string b) => Parse(a).CompareTo(Parse(b));

    public int CompareTo(DebianVersion? other)
    {
        if (other is null)
        {
            return 1;
        }

        if (Epoch != other.Epoch)
        {
            return Epoch.CompareTo(other.Epoch);
        }

        int upstream = CompareParts(Upstream, other.Upstream);
        return upstream != 0 ? upstream : CompareParts(Revision, other.Revision);
    }

    public override string ToString() =>
        (Epoch > 0 ? $"{Epoch}:" : "") + Upstream + (Revision.Length > 0 ? "-" + Revision : "");

    private static int Order(char c) => c switch
    {
        '\0' => 0,
        '~' => -1,
        _ when char.IsAsciiDigit(c) => 0,
        _ when char.IsAsciiLetter(c) => c,
        _ => c + 256,
    };

    /// <summary>dpkg's verrevcmp.</summary>
    internal static int CompareParts(string a, string b)
    {
        int i = 0, j = 0;
        char At(string s, int k) => k < s.Length ? s[k] : '\0';
        while (i < a.Length || j < b.Length)
        {
            while ((i < a.Length && !char.IsAsciiDigit(a[i])) || (j < b.Length && !char.IsAsciiDigit(b[j])))
            {
                int ac = Order(At(a, i));
                int bc = Order(At(b, j));
                if (ac != bc)
                {
                    return Math.Sign(ac - bc);
                }

                i++;
                j++;
            }

            while (At(a, i) == '0')
            {
                i++;
            }

            while (At(b, j) == '0')
            {
                j++;
            }

            int firstDiff = 0;
            while (char.IsAsciiDigit(At(a, i)) && char.IsAsciiDigit(At(b, j)))
            {
                if (firstDiff == 0)
                {
                    firstDiff = At(a, i) - At(b, j);
                }

                i++;
                j++;
            }

            if (char.IsAsciiDigit(At(a, i)))
            {
                return 1;
            }

            if (char.IsAsciiDigit(At(b, j)))
            {
                return -1;
            }

            if (firstDiff != 0)
            {
                return Math.Sign(firstDiff);
            }
        }

        return 0;
    }

    public static bool operator <(DebianVersion left, DebianVersion right) => left.CompareTo(right) < 0;

    public static bool operator >(DebianVersion left, DebianVersion right) => left.CompareTo(right) > 0;

    public static bool operator <=(DebianVersion left, DebianVersion right) => left.CompareTo(right) <= 0;

    public static bool operator >=(DebianVersion left, DebianVersion right) => left.CompareTo(right) >= 0;
}
