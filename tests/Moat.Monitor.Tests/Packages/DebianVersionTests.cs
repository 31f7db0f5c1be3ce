using System.Diagnostics;
using Moat.Monitor.Packages;

namespace Moat.Monitor.Tests.Packages;

public sealed class DebianVersionTests
{
    // Expected orderings taken from deb-version(7): epochs dominate; '~' sorts before anything, even the end
    // of the part ("~~" < "~~a" < "~" < "" < "a"); letters sort before non-letters; digit runs compare as numbers.
    [Theory]
    [InlineData("1.0~~", "1.0~~a", -1)]
    [InlineData("1.0~~a", "1.0~", -1)]
    [InlineData("1.0~", "1.0", -1)]
    [InlineData("1.0", "1.0a", -1)]
    [InlineData("1.0~rc1", "1.0", -1)]
    [InlineData("1:0.1", "2.0", 1)]
    [InlineData("0:2.0", "2.0", 0)]
    [InlineData("1.0-1", "1.0-2", -1)]
    [InlineData("1.0", "1.0-0", 0)]
    [InlineData("1.00", "1.0", 0)]
    [InlineData("1.9", "1.10", -1)]
    [InlineData("1.2a", "1.2+", -1)]
    [InlineData("1.2+", "1.2.", -1)]
    [InlineData("2.36-9+deb12u4", "2.36-9+deb12u10", -1)]
    [InlineData("1:1.35.0-4+deb12u1+b1", "1:1.35.0-4+deb12u1", 1)]
    [InlineData("7.88.1-10+deb12u5", "7.88.1-10+deb12u12", -1)]
    [InlineData("1.0-1~bpo1", "1.0-1", -1)]
    [InlineData("10:1", "9:99", 1)]
    [InlineData("1.0-a-b", "1.0-a", 1)]
    public void Compare_DocumentedCases_MatchesDocumentationAndDpkg(string a, string b, int expected)
    {
        Assert.Equal(expected, Math.Sign(DebianVersion.Compare(a, b)));
        Assert.Equal(expected, DpkgCompare(a, b));
        Assert.Equal(-expected, Math.Sign(DebianVersion.Compare(b, a)));
    }

    [Fact]
    public void Compare_RandomVersions_AgreesWithDpkgCompareVersions()
    {
        var random = new Random(20261122);
        const string alphabet = "0123456789.~+abzAZ";
        string Part(int max)
        {
            int length = random.Next(0, max);
            var chars = new char[length];
            for (int i = 0; i < length; i++)
            {
                chars[i] = alphabet[random.Next(alphabet.Length)];
            }

            return new string(chars);
        }

        string Version() =>
            (random.Next(4) == 0 ? $"{random.Next(3)}:" : "")
            + random.Next(10) + Part(6)
            + (random.Next(2) == 0 ? "-" + random.Next(10) + Part(4) : "");

        for (int i = 0; i < 150; i++)
        {
            string a = Version();
            string b = random.Next(5) == 0 ? a : Version();
            Assert.True(DpkgCompare(a, b) == Math.Sign(DebianVersion.Compare(a, b)), $"'{a}' vs '{b}': dpkg says {DpkgCompare(a, b)}");
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("a1.0")]
    [InlineData("x:1.0")]
    [InlineData("1.0 beta")]
    public void Parse_InvalidVersion_ThrowsFormatExceptionNamingTheInput(string text)
    {
        var ex = Assert.Throws<FormatException>(() => DebianVersion.Parse(text));
        Assert.Contains("Debian version", ex.Message, StringComparison.Ordinal);
    }

    private static int DpkgCompare(string a, string b)
    {
        if (Dpkg(a, "lt", b))
        {
            return -1;
        }

        return Dpkg(a, "eq", b) ? 0 : 1;
    }

    private static bool Dpkg(string a, string op, string b)
    {
        var psi = new ProcessStartInfo("dpkg") { RedirectStandardError = true };
        foreach (string arg in new[] { "--compare-versions", a, op, b })
        {
            psi.ArgumentList.Add(arg);
        }

        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode is 0 or 1, $"dpkg failed on '{a}' {op} '{b}': {err}");
        return p.ExitCode == 0;
    }
}
