using Moat.Images.Store;

namespace Moat.Images.Tests.Store;

public sealed class TreeDigestTests : IDisposable
{
    private const UnixFileMode Rw = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode Rwx = Rw | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    private readonly TempDir _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void SameTreeBuiltInADifferentOrderAndWay_HasTheSameDigest()
    {
        string a = _temp.Combine("a");
        Directory.CreateDirectory(Path.Combine(a, "etc"));
        Directory.CreateDirectory(Path.Combine(a, "bin"));
        File.WriteAllText(Path.Combine(a, "etc/hosts"), "127.0.0.1 localhost\n");
        File.WriteAllBytes(Path.Combine(a, "bin/tool"), [1, 2, 3]);
        File.CreateSymbolicLink(Path.Combine(a, "bin/alias"), "tool");
        SetModes(a);

        string b = _temp.Combine("b");
        Directory.CreateDirectory(Path.Combine(b, "bin"));
        File.CreateSymbolicLink(Path.Combine(b, "bin/alias"), "tool");
        using (var stream = File.Create(Path.Combine(b, "bin/tool")))
        {
            stream.WriteByte(1);
            stream.Write([2, 3]);
        }

        Directory.CreateDirectory(Path.Combine(b, "etc"));
        File.Copy(Path.Combine(a, "etc/hosts"), Path.Combine(b, "etc/hosts"));
        File.SetLastWriteTimeUtc(Path.Combine(b, "etc/hosts"), new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        SetModes(b);

        TreeSummary first = TreeDigest.Compute(a);
        TreeSummary second = TreeDigest.Compute(b);

        Assert.Equal(first, second);
        Assert.Equal(64, first.Digest.Length);
        Assert.Equal(5, first.FileCount);
        Assert.Equal(20 + 3, first.Size);
    }

    [Fact]
    public void ModeContentOrLinkTargetChange_ChangesTheDigest()
    {
        string root = _temp.Combine("t");
        Directory.CreateDirectory(root);
        File.WriteAllText(Path.Combine(root, "file"), "x");
        File.CreateSymbolicLink(Path.Combine(root, "link"), "file");
        SetModes(root);
        string original = TreeDigest.Compute(root).Digest;

        File.SetUnixFileMode(Path.Combine(root, "file"), Rwx);
        string afterMode = TreeDigest.Compute(root).Digest;
        File.SetUnixFileMode(Path.Combine(root, "file"), Rw);
        Assert.Equal(original, TreeDigest.Compute(root).Digest);

        File.WriteAllText(Path.Combine(root, "file"), "y");
        string afterContent = TreeDigest.Compute(root).Digest;
        File.WriteAllText(Path.Combine(root, "file"), "x");

        File.Delete(Path.Combine(root, "link"));
        File.CreateSymbolicLink(Path.Combine(root, "link"), "other");
        string afterLink = TreeDigest.Compute(root).Digest;

        Assert.Equal(4, new HashSet<string> { original, afterMode, afterContent, afterLink }.Count);
    }

    [Fact]
    public void NameBoundaries_AreUnambiguous()
    {
        // "a" + "b/c" must not serialize like "ab" + "/c": fields are NUL-terminated.
        string one = _temp.Combine("one");
        Directory.CreateDirectory(Path.Combine(one, "ab"));
        File.WriteAllText(Path.Combine(one, "ab/c"), "");
        string two = _temp.Combine("two");
        Directory.CreateDirectory(Path.Combine(two, "a"));
        File.WriteAllText(Path.Combine(two, "a/bc"), "");
        SetModes(one);
        SetModes(two);

        Assert.NotEqual(TreeDigest.Compute(one).Digest, TreeDigest.Compute(two).Digest);
    }

    private static void SetModes(string root)
    {
        File.SetUnixFileMode(root, Rwx);
        foreach (string path in Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories))
        {
            if (new FileInfo(path).LinkTarget is null)
            {
                File.SetUnixFileMode(path, Directory.Exists(path) ? Rwx : Rw);
            }
        }
    }
}
