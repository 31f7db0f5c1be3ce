using System.Formats.Tar;
using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Sandboxes;

/// <summary>
/// <see cref="StateArchive"/> on its own, in a temporary folder (no agent, no root: members are owned by the user
/// running the test): what it refuses, and that a refusal leaves nothing outside the staging folder.
/// </summary>
[Trait("Category", "Hostile")]
public sealed class StateArchiveTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("moat-statearchive-").FullName;
    private readonly (int Uid, int Gid) _me = CurrentIds();

    private string Staging => Path.Combine(_root, "staging");

    private string Outside => Path.Combine(_root, "outside");

    public StateArchiveTests()
    {
        Directory.CreateDirectory(Staging);
        Directory.CreateDirectory(Outside);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public async Task A_link_planted_then_used_as_a_folder_is_refused_and_nothing_lands_outside()
    {
        var refused = await ExtractRefusedAsync(
            Dir("upper"), Dir("data"), Symlink("data/x", Outside), File("data/x/planted"));

        Assert.Equal("the state archive for sandbox t is refused: member 'data/x/planted' goes through 'data/x', which is a symbolic link or not a folder; members may not be written through links.", refused.Message);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Outside));
    }

    [Fact]
    public async Task A_link_already_in_the_staging_folder_is_never_followed()
    {
        // Even a link that is not the archive's own (the folder was not fresh) is not walked through.
        System.IO.File.CreateSymbolicLink(Path.Combine(Staging, "upper"), Outside);

        var refused = await ExtractRefusedAsync(File("upper/planted"));

        Assert.Contains("goes through 'upper'", refused.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Outside));
    }

    [Fact]
    public async Task A_second_member_with_a_taken_name_is_refused_even_as_a_file_over_a_file()
    {
        var refused = await ExtractRefusedAsync(Dir("upper"), File("upper/f"), Symlink("upper/f", "/etc/shadow"));

        Assert.Contains("member 'upper/f' names something the archive already holds", refused.Message, StringComparison.Ordinal);
        Assert.Equal("planted\n", await System.IO.File.ReadAllTextAsync(Path.Combine(Staging, "upper", "f")));
    }

    [Theory]
    [InlineData("upper/a/../../../outside/x")]
    [InlineData("./upper/./x")]
    [InlineData("upper//x")]
    [InlineData("/upper/x")]
    [InlineData("..")]
    [InlineData("rootfs/x")]
    public async Task Names_that_escape_or_are_not_canonical_are_refused(string name)
    {
        var refused = await ExtractRefusedAsync(Dir("upper"), File(name));

        Assert.Contains($"member '{name}' is not a valid name", refused.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Outside));
    }

    [Fact]
    public async Task Links_and_devices_are_refused_in_the_checkpoint_and_whiteouts_outside_upper()
    {
        Assert.Contains("checkpoint/ may hold only folders and files",
            (await ExtractRefusedAsync(Dir("upper"), Dir("checkpoint"), Symlink("checkpoint/checkpoint.img", "/proc/self/mem"))).Message, StringComparison.Ordinal);
        Directory.Delete(Staging, recursive: true);
        Directory.CreateDirectory(Staging);
        Assert.Contains("is a character device",
            (await ExtractRefusedAsync(Dir("upper"), Dir("data"), new PaxTarEntry(TarEntryType.CharacterDevice, "data/wh") { Uid = _me.Uid, Gid = _me.Gid })).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_hard_link_to_another_top_level_folder_or_to_a_folder_is_refused()
    {
        Assert.Contains("outside its own folder upper/",
            (await ExtractRefusedAsync(Dir("upper"), Dir("data"), File("data/f"), HardLink("upper/h", "data/f"))).Message, StringComparison.Ordinal);
        Directory.Delete(Staging, recursive: true);
        Directory.CreateDirectory(Staging);
        Assert.Contains("which is not an earlier file",
            (await ExtractRefusedAsync(Dir("upper"), Dir("upper/d"), HardLink("upper/h", "upper/d"))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stream_that_is_not_tar_is_refused_in_one_sentence()
    {
        await using var garbage = new MemoryStream([.. Enumerable.Repeat((byte)'x', 4096)]);

        var refused = await Assert.ThrowsAsync<InvalidRequestException>(() =>
            StateArchive.ExtractAsync(garbage, Staging, StateImportOptions.Default, "the state archive for sandbox t", CancellationToken.None));

        Assert.StartsWith("the state archive for sandbox t is refused: it is not a valid tar stream", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_sender_that_fails_half_way_is_not_called_a_bad_archive()
    {
        await using var broken = new FailingStream(Tar(Dir("upper"), File("upper/f")), after: 700);

        var failed = await Assert.ThrowsAsync<MoatHostException>(() =>
            StateArchive.ExtractAsync(broken, Staging, StateImportOptions.Default, "the state archive for sandbox t", CancellationToken.None));

        Assert.IsNotType<InvalidRequestException>(failed);
        Assert.StartsWith("receiving sandbox state failed after", failed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Setid_bits_and_attributes_are_counted_as_stripped_and_legit_content_is_written()
    {
        var su = File("upper/su");
        su.Mode = (UnixFileMode)0xDED;
        var capability = new PaxTarEntry(TarEntryType.RegularFile, "upper/ping", new Dictionary<string, string> { ["SCHILY.xattr.security.capability"] = "x" })
        {
            Uid = _me.Uid,
            Gid = _me.Gid,
            Mode = (UnixFileMode)0x1ED,
        };

        var done = await StateArchive.ExtractAsync(
            Tar(Dir("upper"), su, capability, Symlink("upper/etc-link", "/etc"), HardLink("upper/su2", "upper/su")),
            Staging, StateImportOptions.Default, "the state archive for sandbox t", CancellationToken.None);

        Assert.Equal(5, done.Entries);
        Assert.Equal(1, done.SetIdBitsStripped);
        Assert.Equal(1, done.AttributesStripped);
        Assert.Equal((UnixFileMode)0x1ED, System.IO.File.GetUnixFileMode(Path.Combine(Staging, "upper", "su")));
        Assert.Equal("/etc", new FileInfo(Path.Combine(Staging, "upper", "etc-link")).LinkTarget);
    }

    private async Task<InvalidRequestException> ExtractRefusedAsync(params TarEntry[] entries) =>
        await Assert.ThrowsAsync<InvalidRequestException>(() =>
            StateArchive.ExtractAsync(Tar(entries), Staging, StateImportOptions.Default, "the state archive for sandbox t", CancellationToken.None));

    private static MemoryStream Tar(params TarEntry[] entries)
    {
        var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var e in entries)
            {
                writer.WriteEntry(e);
            }
        }

        buffer.Position = 0;
        return buffer;
    }

    private PaxTarEntry Dir(string name) => new(TarEntryType.Directory, name) { Uid = _me.Uid, Gid = _me.Gid, Mode = (UnixFileMode)0x1ED };

    private PaxTarEntry File(string name) =>
        new(TarEntryType.RegularFile, name) { Uid = _me.Uid, Gid = _me.Gid, Mode = (UnixFileMode)0x1A4, DataStream = new MemoryStream("planted\n"u8.ToArray()) };

    private PaxTarEntry Symlink(string name, string target) => new(TarEntryType.SymbolicLink, name) { Uid = _me.Uid, Gid = _me.Gid, LinkName = target };

    private PaxTarEntry HardLink(string name, string target) => new(TarEntryType.HardLink, name) { Uid = _me.Uid, Gid = _me.Gid, LinkName = target };

    /// <summary>The real uid and gid of this process, from /proc/self/status.</summary>
    private static (int Uid, int Gid) CurrentIds()
    {
        var lines = System.IO.File.ReadAllLines("/proc/self/status");
        int Field(string key) => int.Parse(lines.First(l => l.StartsWith(key, StringComparison.Ordinal)).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
        return (Field("Uid:"), Field("Gid:"));
    }

    private sealed class FailingStream(Stream inner, int after) : Stream
    {
        private int _read;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_read >= after)
            {
                throw new IOException("connection reset by the sender");
            }

            var n = inner.Read(buffer, offset, Math.Min(count, after - _read));
            _read += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
