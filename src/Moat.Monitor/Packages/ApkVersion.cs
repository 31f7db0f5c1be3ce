namespace Moat.Monitor.Packages;

/// <summary>
/// Alpine (apk) version ordering: dotted numbers, an optional letter, suffixes
/// (_alpha &lt; _beta &lt; _pre &lt; _rc &lt; none &lt; _cvs &lt; _svn &lt; _git &lt; _hg &lt; _p) and -rN.
/// </summary>
public static class ApkVersion
{
    private static readonly string[] SuffixOrder = ["alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p"];

    public static int Compare(string a, string b)
    {
        var x = Tokens(a);
        var y = Tokens(b);
        for (int i = 0; i < Math.Max(x.Count, y.Count); i++)
        {
            // A missing token counts as the plain release: "1.0" == "1.0-r0", "1.0_rc1" < "1.0".
            var tx = i < x.Count ? x[i] : (Rank: 4, Number: 0L, Text: "");
            var ty = i < y.Count ? y[i] : (Rank: 4, Number: 0L, Text: "");
            int c = tx.Rank.CompareTo(ty.Rank);
            if (c == 0)
            {
                c = tx.Number.CompareTo(ty.Number);
            }

            if (c == 0)
            {
                c = string.CompareOrdinal(tx.Text, ty.Text);
            }

            if (c != 0)
            {
                return Math.Sign(c);
            }
        }

        return 0;
    }

    // Tokens carry a rank so that different kinds compare the way apk does: numbers above suffixes and letters.
    private static List<(int Rank, long Number, string Text)> Tokens(string version)
    {
        var tokens = new List<(int, long, string)>();
        string main = version;
        long release = 0;
        int r = version.LastIndexOf("-r", StringComparison.Ordinal);
        if (r >= 0 && long.TryParse(version.AsSpan(r + 2), out release))
        {
            main = version[..r];
        }

        string[] suffixSplit = main.Split('_');
        foreach (string part in suffixSplit[0].Split('.'))
        {
            int digits = 0;
            while (digits < part.Length && char.IsAsciiDigit(part[digits]))
            {
                digits++;
            }

            tokens.Add((10, digits > 0 && long.TryParse(part.AsSpan(0, digits), out long n) ? n : 0, ""));
            if (digits < part.Length)
            {
                tokens.Add((5, 0, part[digits..]));
            }
        }

        foreach (string suffix in suffixSplit.Skip(1))
        {
            int digits = suffix.Length;
            while (digits > 0 && char.IsAsciiDigit(suffix[digits - 1]))
            {
                digits--;
            }

            int rank = Array.IndexOf(SuffixOrder, suffix[..digits]);
            tokens.Add((rank < 0 ? 4 : rank, digits < suffix.Length && long.TryParse(suffix.AsSpan(digits), out long n) ? n : 0, ""));
        }

        tokens.Add((4, 0, ""));
        tokens.Add((4, release, ""));
        return tokens;
    }
}
