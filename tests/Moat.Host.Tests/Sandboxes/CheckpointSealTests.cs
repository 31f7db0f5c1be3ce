using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Sandboxes;

/// <summary><see cref="CheckpointSeal"/>: a seal binds a checkpoint's files and image to one key, and the key is a
/// secret kept 0600 in a 0700 folder.</summary>
[Trait("Category", "Hostile")]
public sealed class CheckpointSealTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("moat-seal-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void A_seal_verifies_only_with_the_same_key_the_same_image_and_the_same_files()
    {
        var key = CheckpointSeal.LoadKey(null, Path.Combine(_root, "keys", "checkpoint.key"));
        var other = CheckpointSeal.LoadKey(null, Path.Combine(_root, "other", "checkpoint.key"));
        var dir = Directory.CreateDirectory(Path.Combine(_root, "checkpoint")).FullName;
        File.WriteAllText(Path.Combine(dir, "checkpoint.img"), "kernel state");
        CheckpointSeal.Seal(dir, "sha256:aa", key);

        Assert.Null(CheckpointSeal.Verify(dir, "sha256:aa", key));
        Assert.NotNull(CheckpointSeal.Verify(dir, "sha256:aa", other));
        Assert.NotNull(CheckpointSeal.Verify(dir, "sha256:bb", key));
        File.WriteAllText(Path.Combine(dir, "pages.img"), "added");
        Assert.NotNull(CheckpointSeal.Verify(dir, "sha256:aa", key));
        File.Delete(Path.Combine(dir, CheckpointSeal.FileName));
        Assert.Equal("it carries no seal", CheckpointSeal.Verify(dir, "sha256:aa", key));
    }

    [Fact]
    public void The_own_key_is_made_private_and_a_shared_key_must_exist_and_be_private()
    {
        var own = Path.Combine(_root, "keys", "checkpoint.key");
        Assert.Equal(32, CheckpointSeal.LoadKey(null, own).Length);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(own));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(own)!));

        var shared = Path.Combine(_root, "shared.key");
        Assert.Contains("does not exist", Assert.Throws<InvalidRequestException>(() => CheckpointSeal.LoadKey(shared, own)).Message, StringComparison.Ordinal);
        File.WriteAllBytes(shared, new byte[32]);
        File.SetUnixFileMode(shared, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        Assert.Contains("chmod 600", Assert.Throws<InvalidRequestException>(() => CheckpointSeal.LoadKey(shared, own)).Message, StringComparison.Ordinal);
        File.SetUnixFileMode(shared, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllBytes(shared, new byte[8]);
        Assert.Contains("at least 32", Assert.Throws<InvalidRequestException>(() => CheckpointSeal.LoadKey(shared, own)).Message, StringComparison.Ordinal);
    }
}
