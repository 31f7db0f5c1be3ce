using Moat.Linux.Files;

namespace Moat.Linux.Tests.Files;

/// <summary>
/// The kernel-enforced confinement under image import: whatever symbolic links a tree holds, no operation through
/// <see cref="RootedDirectory"/> reaches outside it. Needs no root.
/// </summary>
[Trait("Category", "Hostile")]
public sealed class RootedDirectoryTests : IDisposable
{
    private const UnixFileMode Mode755 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private readonly string _scratch = Path.Combine(Path.GetTempPath(), "moat-rooted-" + Guid.NewGuid().ToString("N"));
    private readonly string _outside;
    private readonly RootedDirectory _tree;

    public RootedDirectoryTests()
    {
        _outside = Path.Combine(_scratch, "outside");
        Directory.CreateDirectory(Path.Combine(_outside, "etc"));
        File.WriteAllText(Path.Combine(_outside, "etc", "passwd"), "root");
        File.SetUnixFileMode(Path.Combine(_outside, "etc"), Mode755);
        File.SetUnixFileMode(Path.Combine(_outside, "etc", "passwd"), Mode755);
        string root = Path.Combine(_scratch, "root");
        Directory.CreateDirectory(Path.Combine(root, "real"));
        File.CreateSymbolicLink(Path.Combine(root, "abs"), _outside);
        File.CreateSymbolicLink(Path.Combine(root, "rel"), "../outside");
        File.CreateSymbolicLink(Path.Combine(root, "real", "up"), "..");
        _tree = RootedDirectory.Open(root);
    }

    public void Dispose()
    {
        _tree.Dispose();
        Directory.Delete(_scratch, recursive: true);
    }

    public static TheoryData<string> ThroughLinks => ["abs/etc", "rel/etc", "abs/etc/passwd", "real/up/abs/etc"];

    [Theory]
    [MemberData(nameof(ThroughLinks))]
    public void EveryOperation_ThroughASymlink_IsRefusedAndTouchesNothingOutside(string path)
    {
        Assert.Throws<PathThroughSymlinkException>(() => _tree.SetMode(path, Mode755 | UnixFileMode.OtherWrite | UnixFileMode.SetUser));
        Assert.Throws<PathThroughSymlinkException>(() => _tree.SetOwner(path, 1234, 1234));
        Assert.Throws<PathThroughSymlinkException>(() => _tree.SetModificationTime(path, DateTimeOffset.UnixEpoch));
        Assert.Throws<PathThroughSymlinkException>(() => _tree.Delete(path));
        Assert.Throws<PathThroughSymlinkException>(() => _tree.List(path));
        Assert.Throws<PathThroughSymlinkException>(() => _tree.CreateFile(path + "/new", Mode755).Dispose());
        Assert.Throws<PathThroughSymlinkException>(() => _tree.CreateDirectory(path + "/new", Mode755));
        Assert.Throws<PathThroughSymlinkException>(() => _tree.CreateSymbolicLink(path + "/new", "/"));
        Assert.Throws<PathThroughSymlinkException>(() => _tree.CreateHardLink(path + "/passwd", "stolen"));

        Assert.Equal("root", File.ReadAllText(Path.Combine(_outside, "etc", "passwd")));
        Assert.Equal(Mode755, File.GetUnixFileMode(Path.Combine(_outside, "etc")));
        Assert.Equal(Mode755, File.GetUnixFileMode(Path.Combine(_outside, "etc", "passwd")));
        Assert.Equal(["passwd"], Directory.EnumerateFileSystemEntries(Path.Combine(_outside, "etc")).Select(Path.GetFileName));
        Assert.False(Path.Exists(Path.Combine(_scratch, "root", "stolen")));
    }

    [Fact]
    public void OperationsOnTheLinkItself_ActOnTheLinkNotItsTarget()
    {
        _tree.SetMode("abs", Mode755 | UnixFileMode.OtherWrite);
        Assert.Equal(TreeEntryStat.SymlinkType, _tree.Stat("abs")!.Value.Mode & 0xF000);
        Assert.True(_tree.Delete("abs"));

        Assert.Null(_tree.Stat("abs"));
        Assert.Equal(Mode755, File.GetUnixFileMode(_outside + "/etc"));
        Assert.True(File.Exists(Path.Combine(_outside, "etc", "passwd")));
    }

    [Fact]
    public void CreateFile_WhereASymlinkStands_FailsRatherThanWritingThroughIt()
    {
        var error = Assert.Throws<LinuxException>(() => _tree.CreateFile("abs", Mode755).Dispose());

        Assert.Equal(Errno.EEXIST, error.Errno);
    }

    [Fact]
    public void Delete_OfADirectoryHoldingSymlinks_RemovesTheLinksNotTheirTargets()
    {
        _tree.CreateDirectory("real/d", Mode755);
        _tree.CreateSymbolicLink("real/d/out", _outside);

        Assert.True(_tree.Delete("real"));

        Assert.Null(_tree.Stat("real"));
        Assert.True(File.Exists(Path.Combine(_outside, "etc", "passwd")));
    }

    [Theory]
    [InlineData("../outside/etc/passwd")]
    [InlineData("/etc/passwd")]
    [InlineData("a//b")]
    [InlineData("a/./b")]
    public void PathsThatAreNotPlainAndRelative_AreRejected(string path)
    {
        Assert.Throws<ArgumentException>(() => _tree.Delete(path));
        Assert.True(File.Exists(Path.Combine(_outside, "etc", "passwd")));
    }
}
