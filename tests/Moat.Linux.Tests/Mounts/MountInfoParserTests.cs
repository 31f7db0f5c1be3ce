using Moat.Linux.Mounts;

namespace Moat.Linux.Tests.Mounts;

public sealed class MountInfoParserTests
{
    [Fact]
    public void Parse_TheProcFiveExampleLine()
    {
        // The example from proc(5).
        var entry = Assert.Single(MountTable.Parse("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n"));
        Assert.Equal(new MountEntry(36, 35, "/mnt1", "/mnt2", "rw,noatime", entry.OptionalFields, "ext3", "/dev/root", "rw,errors=continue"), entry);
        Assert.Equal(["master:1"], entry.OptionalFields);
    }

    [Fact]
    public void Parse_NoOptionalFieldsAndEscapedSpaces()
    {
        var entry = Assert.Single(MountTable.Parse("100 1 0:50 / /tmp/a\\040b rw - overlay overlay rw,lowerdir=/l\\134x\n"));
        Assert.Empty(entry.OptionalFields);
        Assert.Equal("/tmp/a b", entry.MountPoint);
        Assert.Equal("rw,lowerdir=/l\\x", entry.SuperOptions);
    }

    [Fact]
    public void Parse_LineWithoutSeparator_Throws()
    {
        Assert.Throws<InvalidDataException>(() => MountTable.Parse("1 2 3:4 / /x rw a b c d\n"));
    }

    [Theory]
    [InlineData("relative/path")]
    [InlineData("/has,comma")]
    [InlineData("/has:colon")]
    public void MountOverlay_PathThatWouldBreakTheOptions_ThrowsNamingIt(string lower)
    {
        var error = Assert.Throws<ArgumentException>(() => MountTable.MountOverlay(lower, "/u", "/w", "/t"));
        Assert.Contains($"'{lower}'", error.Message);
    }
}
