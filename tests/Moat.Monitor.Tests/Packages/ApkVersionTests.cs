using Moat.Monitor.Packages;

namespace Moat.Monitor.Tests.Packages;

public sealed class ApkVersionTests
{
    // Orderings from apk's version rules (apk-package(5)): suffix order _alpha < _beta < _pre < _rc < release < _p,
    // a letter after the number sorts after the plain number, -rN is compared last.
    [Theory]
    [InlineData("1.2.3", "1.2.4", -1)]
    [InlineData("1.2", "1.2.1", -1)]
    [InlineData("1.10", "1.9", 1)]
    [InlineData("1.0_alpha1", "1.0_beta1", -1)]
    [InlineData("1.0_rc2", "1.0", -1)]
    [InlineData("1.0", "1.0_p1", -1)]
    [InlineData("1.0-r1", "1.0-r2", -1)]
    [InlineData("1.0", "1.0-r0", 0)]
    [InlineData("1.0a", "1.0", 1)]
    [InlineData("1.0a", "1.0b", -1)]
    [InlineData("3.0.8-r0", "3.0.10-r0", -1)]
    public void Compare_OrdersLikeApk(string a, string b, int expected)
    {
        Assert.Equal(expected, ApkVersion.Compare(a, b));
        Assert.Equal(-expected, ApkVersion.Compare(b, a));
    }
}
