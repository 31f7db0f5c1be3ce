using System.Text;
using Moat.Monitor.Packages;

namespace Moat.Fuzz.Tests.Regressions;

/// <summary>A tenant writes its image's dpkg status file; the fuzzer found one whose continuation lines cost quadratic memory.</summary>
[Trait("Category", "Hostile")]
public sealed class PackageIndexRegressionTests
{
    [Fact]
    public void Stanzas_ManyContinuationLines_AllocateInProportionToTheFile()
    {
        var status = new StringBuilder("Package: busybox\nStatus: install ok installed\nVersion: 1.35\nDescription: tiny\n");
        for (int i = 0; i < 5000; i++)
        {
            status.Append(" utilities\n");
        }

        string text = status.ToString();
        long before = GC.GetAllocatedBytesForCurrentThread();
        var stanza = Assert.Single(PackageIndex.Stanzas(text));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(5001, stanza["Description"].Split('\n').Length);
        Assert.True(allocated < 64L * text.Length, $"{allocated} bytes allocated for a {text.Length}-character status file");
    }

    [Fact]
    public void Stanzas_ContinuationLines_StillJoinedWithNewlines()
    {
        var stanza = Assert.Single(PackageIndex.Stanzas("Package: a\nDescription: one\n two\n\tthree\nVersion: 1\n"));

        Assert.Equal("one\ntwo\nthree", stanza["Description"]);
        Assert.Equal("1", stanza["Version"]);
    }
}
