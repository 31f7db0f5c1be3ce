using System.Formats.Tar;
using System.Text;
using Moat.Host.Client;
using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Integration;

/// <summary>
/// State archives written by a hostile peer host or tenant, fed to `PUT /v1/sandboxes/{ref}/state` of a real agent: each
/// is refused with one sentence, nothing outside the sandbox's folder is created or written (a "bait" folder of the host
/// stays as it was), and the sandbox's own layer and volume are kept.
/// </summary>
[Trait("Category", "Hostile")]
[Trait("Category", "Integration")]
public sealed class HostileStateTests
{
    public static TheoryData<string> HostileArchives => [.. Archives.Keys];

    /// <summary>Each hostile archive, built against a bait folder, and a phrase of the refusal it must get.</summary>
    private static readonly Dictionary<string, (Action<TarWriter, string> Build, string Refusal)> Archives = new()
    {
        // Issue 14 item 3: an empty upper/ and data as a link to a host folder; the sandbox then wrote to it.
        ["data is a link to a host folder"] = ((t, bait) => { Dir(t, "upper"); Link(t, "data", bait); }, "'data' must be a folder"),
        ["upper is a link to a host folder"] = ((t, bait) => Link(t, "upper", bait), "'upper' must be a folder"),
        ["a member written through a link it planted"] = ((t, bait) =>
        {
            Dir(t, "upper");
            Link(t, "upper/x", bait);
            File(t, "upper/x/planted");
        }, "goes through 'upper/x'"),
        ["a folder replaced by a link, then written through"] = ((t, bait) =>
        {
            Dir(t, "upper");
            Dir(t, "upper/d");
            Link(t, "upper/d", bait);
            File(t, "upper/d/planted");
        }, "already holds"),
        ["a link in data written through"] = ((t, bait) =>
        {
            Dir(t, "upper");
            Dir(t, "data");
            Link(t, "data/www", bait);
            File(t, "data/www/index.html");
        }, "goes through 'data/www'"),
        ["a hard link to a host file"] = ((t, bait) =>
        {
            Dir(t, "upper");
            t.WriteEntry(new PaxTarEntry(TarEntryType.HardLink, "upper/h") { LinkName = Path.Combine(bait, "keep") });
        }, "is not a valid name"),
        ["a hard link climbing out with .."] = ((t, _) =>
        {
            Dir(t, "upper");
            t.WriteEntry(new PaxTarEntry(TarEntryType.HardLink, "upper/h") { LinkName = "upper/../../../../../../etc/hostname" });
        }, "is not a valid name"),
        ["a hard link through a planted link"] = ((t, bait) =>
        {
            Dir(t, "upper");
            Link(t, "upper/x", bait);
            t.WriteEntry(new PaxTarEntry(TarEntryType.HardLink, "upper/h") { LinkName = "upper/x/keep" });
        }, "not an earlier file"),
        ["a name climbing out with .."] = ((t, _) => { Dir(t, "upper"); File(t, "upper/../../../../../../tmp/moat-escaped"); }, "is not a valid name"),
        ["an absolute name"] = ((t, bait) => { Dir(t, "upper"); File(t, Path.Combine(bait, "planted")); }, "is not a valid name"),
        ["a block device"] = ((t, _) =>
        {
            Dir(t, "upper");
            t.WriteEntry(new PaxTarEntry(TarEntryType.BlockDevice, "upper/sda") { DeviceMajor = 8, DeviceMinor = 0 });
        }, "block device"),
        ["a character device other than a whiteout"] = ((t, _) =>
        {
            Dir(t, "upper");
            t.WriteEntry(new PaxTarEntry(TarEntryType.CharacterDevice, "upper/mem") { DeviceMajor = 1, DeviceMinor = 1 });
        }, "character device"),
        ["a FIFO"] = ((t, _) => { Dir(t, "upper"); t.WriteEntry(new PaxTarEntry(TarEntryType.Fifo, "upper/p")); }, "FIFO"),
        ["a top-level member it does not know"] = ((t, _) => { Dir(t, "upper"); Dir(t, "etc"); }, "is not a valid name"),
    };

    [Theory]
    [MemberData(nameof(HostileArchives))]
    public async Task A_hostile_state_archive_is_refused_and_touches_nothing(string archive)
    {
        await using var bait = new Bait();
        await using var h = await AgentHarness.StartAsync();
        var victim = await StoppedVictimAsync(h);
        var (build, refusal) = Archives[archive];

        var refused = await Assert.ThrowsAsync<HostApiException>(() => h.Client.ImportStateAsync(victim.Id, Tar(t => build(t, bait.Path)), start: true));

        Assert.Equal(400, refused.Status);
        Assert.Contains("refused", refused.Message, StringComparison.Ordinal);
        Assert.Contains(refusal, refused.Message, StringComparison.Ordinal);
        await bait.AssertUntouchedAsync();
        Assert.False(System.IO.File.Exists("/tmp/moat-escaped"));
        await AssertKeptAsync(h, victim);
    }

    [Fact]
    public async Task Container_content_is_kept_but_setid_bits_and_file_capabilities_are_stripped_and_links_never_followed()
    {
        await using var bait = new Bait();
        await using var h = await AgentHarness.StartAsync();
        var victim = await StoppedVictimAsync(h);
        var archive = Tar(t =>
        {
            Dir(t, "upper");
            Dir(t, "upper/bin");
            var su = new PaxTarEntry(TarEntryType.RegularFile, "upper/bin/su", new Dictionary<string, string>
            {
                ["SCHILY.xattr.security.capability"] = "\u0001\0\0\u0002\0\u0020\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
                ["SCHILY.xattr.user.note"] = "kept-nowhere",
            })
            {
                Mode = (UnixFileMode)0xDED, // 06755: setuid and setgid root
                DataStream = new MemoryStream("#!/bin/sh\nid\n"u8.ToArray()),
            };
            t.WriteEntry(su);
            t.WriteEntry(new PaxTarEntry(TarEntryType.CharacterDevice, "upper/bin/vi")); // whiteout: deletes the image's vi
            t.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "upper/var", new Dictionary<string, string> { ["SCHILY.xattr.trusted.overlay.opaque"] = "y" })
            {
                Mode = (UnixFileMode)0x1ED,
            });
            File(t, "upper/var/mine");
            Link(t, "upper/var/host", bait.Path); // container content: resolves inside the container, never on the host
            t.WriteEntry(new PaxTarEntry(TarEntryType.HardLink, "upper/var/again") { LinkName = "upper/var/mine" });
            t.WriteEntry(new PaxTarEntry(TarEntryType.Directory, "upper/sticky") { Mode = (UnixFileMode)0x7FF }); // 03777
            Dir(t, "data");
            t.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "data/v") { Uid = 1234, Gid = 4321, Mode = (UnixFileMode)0x1A4, DataStream = new MemoryStream("imported\n"u8.ToArray()) });
        });

        var imported = await h.Client.ImportStateAsync(victim.Id, archive, start: true);

        Assert.Equal(SandboxState.Running, imported.Sandbox.State);
        var upper = Path.Combine(h.Options.StateDir, "sandboxes", victim.Id, "upper");
        Assert.Equal("755", await StatAsync("%a", Path.Combine(upper, "bin", "su")));
        Assert.Null(XattrProbe.Get(Path.Combine(upper, "bin", "su"), "security.capability"));
        Assert.Null(XattrProbe.Get(Path.Combine(upper, "bin", "su"), "user.note"));
        Assert.Equal("y", XattrProbe.Get(Path.Combine(upper, "var"), "trusted.overlay.opaque"));
        Assert.Equal("3777", await StatAsync("%a", Path.Combine(upper, "sticky"))); // setgid on a folder is group inheritance only
        Assert.Equal(bait.Path, new FileInfo(Path.Combine(upper, "var", "host")).LinkTarget);
        Assert.Equal("2", await StatAsync("%h", Path.Combine(upper, "var", "mine")));
        Assert.Equal("1234:4321:644", await StatAsync("%u:%g:%a", Path.Combine(h.Options.StateDir, "sandboxes", victim.Id, "data", "v")));
        await bait.AssertUntouchedAsync();

        // Inside, the whiteout hides the image's vi, the opaque /var hides the image's, and the volume is the archive's.
        var seen = await h.Client.ExecAsync(victim.Id, ["sh", "-c", "test -e /bin/vi && echo vi || echo no-vi; ls /var; cat /data/v; readlink /var/host"]);
        Assert.Equal($"no-vi\nagain\nhost\nmine\nimported\n{bait.Path}\n", seen.Stdout);
    }

    [Fact]
    public async Task An_archive_over_the_byte_limit_is_refused_and_the_sandbox_keeps_its_state()
    {
        await using var h = await AgentHarness.StartAsync(stateImport: StateImportOptions.Default with { MaxBytes = 1 << 20 });
        var victim = await StoppedVictimAsync(h);
        var big = Tar(t =>
        {
            Dir(t, "upper");
            t.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "upper/big") { DataStream = new MemoryStream(new byte[2 << 20]) });
        });

        var refused = await Assert.ThrowsAsync<HostApiException>(() => h.Client.ImportStateAsync(victim.Id, big, start: true));

        Assert.Equal(400, refused.Status);
        Assert.Contains($"larger than {1 << 20} bytes", refused.Message, StringComparison.Ordinal);
        await AssertKeptAsync(h, victim);
    }

    [Fact]
    public async Task An_archive_over_the_member_limit_is_refused_and_the_sandbox_keeps_its_state()
    {
        await using var h = await AgentHarness.StartAsync(stateImport: StateImportOptions.Default with { MaxEntries = 10 });
        var victim = await StoppedVictimAsync(h);
        var many = Tar(t =>
        {
            Dir(t, "upper");
            for (var i = 0; i < 20; i++)
            {
                File(t, $"upper/f{i}");
            }
        });

        var refused = await Assert.ThrowsAsync<HostApiException>(() => h.Client.ImportStateAsync(victim.Id, many, start: true));

        Assert.Equal(400, refused.Status);
        Assert.Contains("more than 10 members", refused.Message, StringComparison.Ordinal);
        await AssertKeptAsync(h, victim);
    }

    /// <summary>A stopped sandbox with a file in its layer and one in its volume.</summary>
    private static async Task<Sandbox> StoppedVictimAsync(AgentHarness h)
    {
        var s = await h.Client.CreateAsync(SandboxSpec.Default with { Name = "victim" });
        Assert.Equal(0, (await h.Client.ExecAsync("victim", ["sh", "-c", "echo kept > /etc/marker && echo vol > /data/v"])).ExitCode);
        return await h.Client.StopAsync("victim", graceSeconds: 1);
    }

    /// <summary>The refused import left the sandbox stopped, with its layer and volume, and nothing staged.</summary>
    private static async Task AssertKeptAsync(AgentHarness h, Sandbox victim)
    {
        Assert.Equal(SandboxState.Stopped, (await h.Client.InspectAsync(victim.Id)).Sandbox.State);
        Assert.False(Directory.Exists(Path.Combine(h.Options.StateDir, "sandboxes", victim.Id, "import")));
        await h.Client.StartAsync(victim.Id);
        Assert.Equal("kept\nvol\n", (await h.Client.ExecAsync(victim.Id, ["cat", "/etc/marker", "/data/v"])).Stdout);
    }

    private static MemoryStream Tar(Action<TarWriter> build)
    {
        var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            build(writer);
        }

        buffer.Position = 0;
        return buffer;
    }

    private static void Dir(TarWriter t, string name) =>
        t.WriteEntry(new PaxTarEntry(TarEntryType.Directory, name) { Mode = (UnixFileMode)0x1ED });

    private static void File(TarWriter t, string name) =>
        t.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { Mode = (UnixFileMode)0x1A4, DataStream = new MemoryStream("planted\n"u8.ToArray()) });

    private static void Link(TarWriter t, string name, string target) =>
        t.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, name) { LinkName = target });

    private static async Task<string> StatAsync(string format, string path)
    {
        var (code, output) = await AgentHarness.Sh("stat", "-c", format, path);
        Assert.Equal(0, code);
        return output.Trim();
    }

    /// <summary>A folder of the host, holding one file, that hostile archives aim at; removed even when a test fails.</summary>
    private sealed class Bait : IAsyncDisposable
    {
        public Bait()
        {
            Path = Directory.CreateTempSubdirectory("moat-bait-").FullName;
            System.IO.File.WriteAllText(System.IO.Path.Combine(Path, "keep"), "host\n");
        }

        public string Path { get; }

        /// <summary>Still just "keep", unchanged, and with no second name (a hard link from the sandbox's folder).</summary>
        public async Task AssertUntouchedAsync()
        {
            Assert.Equal(["keep"], Directory.EnumerateFileSystemEntries(Path).Select(System.IO.Path.GetFileName));
            Assert.Equal("host\n", await System.IO.File.ReadAllTextAsync(System.IO.Path.Combine(Path, "keep")));
            Assert.Equal("1", await StatAsync("%h", System.IO.Path.Combine(Path, "keep")));
        }

        public ValueTask DisposeAsync()
        {
            Directory.Delete(Path, recursive: true);
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>Reads one extended attribute of a path itself (lgetxattr), for checking what an import left on disk.</summary>
internal static partial class XattrProbe
{
    public static string? Get(string path, string name)
    {
        var buffer = new byte[256];
        var n = LGetXattr(path, name, buffer, buffer.Length);
        return n < 0 ? null : Encoding.UTF8.GetString(buffer, 0, (int)n);
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "lgetxattr", StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
    private static partial nint LGetXattr(string path, string name, byte[] value, nint size);
}
