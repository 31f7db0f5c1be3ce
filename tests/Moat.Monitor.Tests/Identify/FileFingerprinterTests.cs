using Moat.Monitor.Identify;

namespace Moat.Monitor.Tests.Identify;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class FileFingerprinterTests
{
    [Theory]
    [InlineData("#!/bin/sh\necho hi\n", true)]
    [InlineData("#!", true)]
    [InlineData("# not a hashbang\n", false)]
    [InlineData("#", false)]
    [InlineData("", false)]
    public void A_file_starting_with_hashbang_loads_an_interpreter(string content, bool expected)
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, content);
            Assert.Equal(expected, new FileFingerprinter().TryFingerprint(path)!.LoadsInterpreter);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Static_and_dynamic_programs_are_told_apart()
    {
        var fingerprinter = new FileFingerprinter();
        Assert.False(fingerprinter.TryFingerprint("/bin/busybox")!.LoadsInterpreter);
        Assert.True(fingerprinter.TryFingerprint("/bin/ls")!.LoadsInterpreter);
    }
}
