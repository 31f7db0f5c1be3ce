using System.Formats.Tar;
using System.Text;
using Moat.Images;
using Moat.Images.Import;
using Moat.Linux.Files;

namespace Moat.Fuzz.Tests.Regressions;

/// <summary>
/// Layer tars and image archives the fuzzer found (minimised, or rebuilt header by header) that escaped the importer as
/// something other than an ImageArchiveException. Each must be refused with one sentence and leave nothing behind
/// outside the scratch root.
/// </summary>
[Trait("Category", "Hostile")]
public sealed class ImageImportRegressionTests
{
    private static readonly ImportLimits Limits = new(1 << 20, 4 << 20, 256, 64 * 1024);

    // The mode field holds 0xfe 0xff 0xff 0xff: base-256 encoding of a number .NET's TarReader overflows on.
    private const string Base256Mode = "bWYtZXRjLwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAP7///8wMDA3MDAwADAwMDAwMDAwMDAwADE1MTI1NjMyNjQ1ADAwNzEzMAAAAAAAADAwMDAwMDAwMDA1ADE1MTI1NjMyNjQ1ADAxMTI2NAAgMAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB1c3RhciAgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    [Fact]
    public void Apply_Base256FieldThatOverflows_Refused()
    {
        AssertLayerRefused(Convert.FromBase64String(Base256Mode), "not a valid tar stream");
    }

    [Fact]
    public void Apply_SizeBeyondTwoGibibytes_Refused()
    {
        // Every field is "7500" repeated: the size reads as octal 75007500750 (over 2^31), which .NET's reader cannot skip in memory.
        byte[] header = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("7500", 128)));
        AssertLayerRefused(header, "not a valid tar stream");
    }

    [Fact]
    public void Apply_GnuSparseEntry_Refused()
    {
        // Found in the 1M run: .NET's TarReader throws NotSupportedException for type 'S' (GNU sparse file).
        AssertLayerRefused([.. Header("mf-sparse", 'S', link: "")[..512], .. new byte[1024]], "not a valid tar stream");
    }

    [Fact]
    public void Apply_SymbolicLinkWithEmptyTarget_Refused()
    {
        AssertLayerRefused(Header("mf-link", '2', link: ""), "symbolic link");
    }

    [Fact]
    public void Apply_SymbolicLinkTargetLongerThanPathMax_Refused()
    {
        AssertLayerRefused(Pax(new PaxTarEntry(TarEntryType.SymbolicLink, "mf-link") { LinkName = new string('a', 5000) }), "symbolic link");
    }

    [Fact]
    public void Apply_NameComponentLongerThanNameMax_Refused()
    {
        AssertLayerRefused(Pax(new PaxTarEntry(TarEntryType.Directory, new string('n', 300) + "/")), "at most 255");
    }

    [Fact]
    public void Apply_PathLongerThanPathMax_Refused()
    {
        string deep = string.Join('/', Enumerable.Repeat(new string('d', 200), 25));
        AssertLayerRefused(Pax(new PaxTarEntry(TarEntryType.Directory, deep + "/")), "shorter than 4096");
    }

    [Fact]
    public void Apply_ExtendedHeaderClaimingHalfAGibibyte_RefusedWithoutAllocatingIt()
    {
        // A pax 'x' header whose size field says 0o4000000044 bytes: .NET's TarReader rents a buffer that size before reading.
        byte[] layer = [.. Header("./PaxHeaders.1/mf", 'x', link: "", size: "04000000044")[..512], .. new byte[2048]];
        long before = GC.GetAllocatedBytesForCurrentThread();

        AssertLayerRefused(layer, "extended header");

        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 16 << 20, "the claimed size must not be allocated");
    }

    [Theory]
    [InlineData('L')]
    [InlineData('K')]
    [InlineData('g')]
    public void Apply_OtherMetadataEntriesClaimingHugeSizes_Refused(char type)
    {
        AssertLayerRefused([.. Header("././@LongLink", type, link: "", size: "77777777777")[..512], .. new byte[1024]], "extended header");
    }

    [Fact]
    public void Apply_PaxSizeRecordForTheNextEntry_StillHonoured()
    {
        var file = new PaxTarEntry(TarEntryType.RegularFile, "mf-big", new Dictionary<string, string> { ["size"] = "700" })
        {
            DataStream = new MemoryStream(new byte[700]),
        };
        using var dir = new TempDir();
        string root = dir.Combine("rootfs");
        Directory.CreateDirectory(root);
        using var tar = new MemoryStream(Pax(file));

        ApplyLayer(root, tar);

        Assert.Equal(700, new FileInfo(Path.Combine(root, "mf-big")).Length);
    }

    [Theory]
    [InlineData(".wh..")]         // hides "." : the folder holding the whiteout
    [InlineData(".wh...")]        // hides "..": the folder above the root
    [InlineData("mf-d/.wh..")]
    [InlineData("mf-d/.wh...")]
    public void Apply_WhiteoutOfDotOrDotDot_RefusedAndNothingRemoved(string whiteout)
    {
        using var dir = new TempDir();
        string root = dir.Combine("rootfs");
        Directory.CreateDirectory(root);
        File.WriteAllText(dir.Combine("beside-the-root"), "kept");
        using var tar = new MemoryStream(Pax(new PaxTarEntry(TarEntryType.Directory, "mf-d/"), new PaxTarEntry(TarEntryType.RegularFile, whiteout)));

        var e = Assert.Throws<ImageArchiveException>(() => ApplyLayer(root, tar));

        Assert.Contains("whiteout", e.Message, StringComparison.Ordinal);
        Assert.True(Directory.Exists(Path.Combine(root, "mf-d")));
        Assert.Equal("kept", File.ReadAllText(dir.Combine("beside-the-root")));
    }

    [Fact]
    public void Apply_DirectoryLaterReplacedBySymlink_ModeNotAppliedThroughTheLink()
    {
        using var dir = new TempDir();
        string root = dir.Combine("rootfs");
        string outside = dir.Combine("outside");
        Directory.CreateDirectory(root);
        Directory.CreateDirectory(outside);
        File.SetUnixFileMode(outside, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var everyone = (UnixFileMode)0b111_111_111;
        using var tar = new MemoryStream(Pax(
            new PaxTarEntry(TarEntryType.Directory, "mf-d/") { Mode = everyone },
            new PaxTarEntry(TarEntryType.SymbolicLink, "mf-d") { LinkName = outside }));

        ApplyLayer(root, tar);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(outside));
    }

    [Fact]
    public void Apply_HardLinkReplacingTheFolderOfItsOwnTarget_Refused()
    {
        AssertLayerRefused(Pax(
            new PaxTarEntry(TarEntryType.Directory, "mf-etc/"),
            new PaxTarEntry(TarEntryType.RegularFile, "mf-etc/mf-hostname") { DataStream = new MemoryStream("moat"u8.ToArray()) },
            new PaxTarEntry(TarEntryType.HardLink, "mf-etc") { LinkName = "mf-etc/mf-hostname" }), "hard link");
    }

    [Theory]
    [InlineData("[{\"Config\":7,\"Layers\":[]}]")]                   // a number where a path belongs
    [InlineData("[{\"Config\":\"c.json\",\"Layers\":[{}]}]")]        // an object where a layer path belongs
    [InlineData("[{\"Config\":\"c.json\",\"Layers\":[\"\\udc00\"]}]")] // a lone surrogate, which has no UTF-8 form
    public void Import_ManifestWithValuesOfTheWrongKind_Refused(string manifest)
    {
        using var dir = new TempDir();
        string archive = dir.Combine("image.tar");
        WriteTar(archive, [("manifest.json", Encoding.UTF8.GetBytes(manifest)), ("c.json", "{}"u8.ToArray())]);

        var e = Assert.Throws<ImageArchiveException>(() =>
            ArchiveImporter.Import(archive, dir.Combine("rootfs"), dir.Combine("scratch"), Limits, null, CancellationToken.None));

        Assert.Contains("manifest", e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Import_ManifestWithInvalidUtf8InAString_Refused()
    {
        using var dir = new TempDir();
        string archive = dir.Combine("image.tar");
        byte[] manifest = [.. "[{\"Config\":\"c"u8, 0xed, 0xa0, 0x80, .. "\",\"Layers\":[]}]"u8];
        WriteTar(archive, [("manifest.json", manifest)]);

        Assert.Throws<ImageArchiveException>(() =>
            ArchiveImporter.Import(archive, dir.Combine("rootfs"), dir.Combine("scratch"), Limits, null, CancellationToken.None));
    }

    [Fact]
    public void Import_OuterTarWithOverflowingField_Refused()
    {
        using var dir = new TempDir();
        string archive = dir.Combine("image.tar");
        File.WriteAllBytes(archive, Convert.FromBase64String(Base256Mode));

        var e = Assert.Throws<ImageArchiveException>(() =>
            ArchiveImporter.Import(archive, dir.Combine("rootfs"), dir.Combine("scratch"), Limits, null, CancellationToken.None));

        Assert.Contains("not a tar file", e.Message, StringComparison.Ordinal);
    }

    private static void ApplyLayer(string root, Stream tar)
    {
        using var tree = RootedDirectory.Open(root);
        new LayerApplier(tree, Limits, null).Apply(tar, "1", CancellationToken.None);
    }

    private static void AssertLayerRefused(byte[] layer, string why)
    {
        using var dir = new TempDir();
        string root = dir.Combine("rootfs");
        Directory.CreateDirectory(root);
        using var tar = new MemoryStream(layer);

        var e = Assert.Throws<ImageArchiveException>(() => ApplyLayer(root, tar));

        Assert.Contains(why, e.Message, StringComparison.Ordinal);
        Assert.Equal([dir.Combine("rootfs")], Directory.GetFileSystemEntries(dir.Path));
    }

    private static byte[] Pax(params TarEntry[] entries)
    {
        using var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var entry in entries)
            {
                writer.WriteEntry(entry);
            }
        }

        return buffer.ToArray();
    }

    /// <summary>A ustar header written byte by byte, for fields TarWriter refuses to write.</summary>
    private static byte[] Header(string name, char type, string link, string size = "00000000000")
    {
        byte[] h = new byte[1024];
        Encoding.ASCII.GetBytes(name).CopyTo(h, 0);
        Encoding.ASCII.GetBytes("0000777\0").CopyTo(h, 100);
        Encoding.ASCII.GetBytes("0000000\0").CopyTo(h, 108);
        Encoding.ASCII.GetBytes("0000000\0").CopyTo(h, 116);
        Encoding.ASCII.GetBytes(size + "\0").CopyTo(h, 124);
        Encoding.ASCII.GetBytes("15125632645\0").CopyTo(h, 136);
        h[156] = (byte)type;
        Encoding.ASCII.GetBytes(link).CopyTo(h, 157);
        Encoding.ASCII.GetBytes("ustar\0" + "00").CopyTo(h, 257);
        "        "u8.CopyTo(h.AsSpan(148));
        int sum = h.AsSpan(0, 512).ToArray().Sum(b => b);
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(h, 148);
        return h;
    }

    private static void WriteTar(string path, IEnumerable<(string Name, byte[] Data)> files)
    {
        using var stream = File.Create(path);
        using var writer = new TarWriter(stream, TarEntryFormat.Pax);
        foreach (var (name, data) in files)
        {
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(data) });
        }
    }
}
