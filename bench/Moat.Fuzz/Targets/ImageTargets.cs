using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using System.Text;
using Moat.Fuzz.Engine;
using Moat.Images;
using Moat.Images.Import;
using Moat.Linux.Files;

namespace Moat.Fuzz.Targets;

/// <summary>
/// Image archives: a layer tar applied to a root file system, and a whole 'docker save' or OCI layout archive
/// (manifest.json, index.json, config, blobs) imported. Both unpack into a private temporary folder, removed after.
/// </summary>
internal static class ImageTargets
{
    private const string Config = """{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["/bin/sh"],"WorkingDir":"/srv","User":"1000:1000"},"rootfs":{"type":"layers","diff_ids":[]}}""";

    // Small enough that a hostile archive finds the limits within a fuzz input.
    private static readonly ImportLimits Limits = new(1 << 20, 4 << 20, 256, 64 * 1024);

    public static FuzzTarget Layer()
    {
        string? scratch = null;
        long n = 0;
        return new FuzzTarget
        {
            Name = "tar",
            Parser = "LayerApplier.Apply (layer tar, whiteouts, links)",
            MaxLength = 32 * 1024,
            Seeds = () => [LayerTar(TarEntryFormat.Pax), LayerTar(TarEntryFormat.Gnu), LayerTar(TarEntryFormat.Ustar), LayerTar(TarEntryFormat.V7)],
            Setup = () => scratch = Scratch("tar"),
            Teardown = () => Directory.Delete(scratch!, recursive: true),
            Expected = e => e is ImageException,
            Run = input =>
            {
                string root = Path.Combine(scratch!, (n++).ToString(System.Globalization.CultureInfo.InvariantCulture));
                Directory.CreateDirectory(root);
                try
                {
                    using var tar = new MemoryStream(input, writable: false);
                    using var tree = RootedDirectory.Open(root);
                    new LayerApplier(tree, Limits, null).Apply(tar, "fuzz", CancellationToken.None);
                }
                finally
                {
                    ForceDelete(root);
                }
            },
        };
    }

    public static FuzzTarget Archive()
    {
        string? scratch = null;
        long n = 0;
        return new FuzzTarget
        {
            Name = "oci",
            Parser = "ArchiveImporter.Import ('docker save' and OCI layout: manifests, index, config, blobs)",
            MaxLength = 32 * 1024,
            Seeds = () => [DockerSave(), Oci(gzip: false), Oci(gzip: true)],
            Dictionary = SeedFiles.Tokens("\"Layers\":", "\"Config\":", "\"manifests\":", "\"layers\":", "\"config\":", "\"digest\":\"sha256:", "\"size\":", "\"mediaType\":", "application/vnd.oci.image.index.v1+json", "null", "[]", "{}", "-1", "99999999999999999999"),
            Setup = () => scratch = Scratch("oci"),
            Teardown = () => Directory.Delete(scratch!, recursive: true),
            Expected = e => e is ImageException,
            Run = input =>
            {
                string work = Path.Combine(scratch!, (n++).ToString(System.Globalization.CultureInfo.InvariantCulture));
                Directory.CreateDirectory(work);
                try
                {
                    string archive = Path.Combine(work, "image.tar");
                    File.WriteAllBytes(archive, input);
                    _ = ArchiveImporter.Import(archive, Path.Combine(work, "rootfs"), Path.Combine(work, "scratch"), Limits, null, CancellationToken.None);
                }
                finally
                {
                    ForceDelete(work);
                }
            },
        };
    }

    private static string Scratch(string name)
    {
        // /dev/shm keeps a million small unpackings off the shared disk.
        string parent = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        return Directory.CreateTempSubdirectory(Path.Combine(parent, $"moat-fuzz-{name}-")[(parent.Length + 1)..]).FullName;
    }

    private static void ForceDelete(string path)
    {
        // A layer may leave read-only folders behind; give them back their write bit first.
        foreach (string dir in Directory.EnumerateDirectories(path, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint }))
        {
            File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }

        Directory.Delete(path, recursive: true);
    }

    // Every name is an unusual "mf-" one, so even a confinement bug could not overwrite or delete a real file.
    private static byte[] LayerTar(TarEntryFormat format)
    {
        using var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, format, leaveOpen: true))
        {
            void Add(TarEntryType type, string name, string? content = null, string? link = null)
            {
                TarEntry entry = format switch
                {
                    TarEntryFormat.Pax => new PaxTarEntry(type, name),
                    TarEntryFormat.Gnu => new GnuTarEntry(type, name),
                    TarEntryFormat.Ustar => new UstarTarEntry(type, name),
                    _ => new V7TarEntry(type, name),
                };
                entry.Mode = type == TarEntryType.Directory ? (UnixFileMode)0b111_101_101 : (UnixFileMode)0b110_100_100;
                entry.ModificationTime = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
                if (link is not null)
                {
                    entry.LinkName = link;
                }

                if (content is not null)
                {
                    entry.DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content));
                }

                writer.WriteEntry(entry);
            }

            var file = format == TarEntryFormat.V7 ? TarEntryType.V7RegularFile : TarEntryType.RegularFile;
            Add(TarEntryType.Directory, "mf-etc/");
            Add(file, "mf-etc/mf-hostname", "moat\n");
            Add(file, "mf-etc/.wh.mf-motd");
            Add(TarEntryType.Directory, "mf-srv/");
            Add(file, "mf-srv/.wh..wh..opq");
            Add(TarEntryType.SymbolicLink, "mf-bin", link: "mf-usr/bin");
            Add(TarEntryType.HardLink, "mf-etc/mf-hostname2", link: "mf-etc/mf-hostname");
            Add(file, "mf-usr/bin/mf-tool", new string('x', 700));
        }

        return buffer.ToArray();
    }

    private static string Sha256(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    private static byte[] DockerSave()
    {
        byte[] layer = LayerTar(TarEntryFormat.Pax);
        // docker save lists each layer's digest in the config (rootfs.diff_ids); the importer verifies the layer against it.
        byte[] config = Encoding.UTF8.GetBytes(Config.Replace("\"diff_ids\":[]", $"\"diff_ids\":[\"sha256:{Sha256(layer)}\"]", StringComparison.Ordinal));
        string configName = Sha256(config) + ".json";
        string layerName = $"{Sha256(layer)}/layer.tar";
        var manifest = new JsonArray(new JsonObject
        {
            ["Config"] = configName,
            ["RepoTags"] = new JsonArray("example:latest"),
            ["Layers"] = new JsonArray(layerName),
        });
        return Tar([(configName, config), (layerName, layer), ("manifest.json", Encoding.UTF8.GetBytes(manifest.ToJsonString()))]);
    }

    private static byte[] Oci(bool gzip)
    {
        var blobs = new List<(string Name, byte[] Data)>();
        JsonObject Descriptor(string mediaType, byte[] data)
        {
            string digest = Sha256(data);
            blobs.Add(($"blobs/sha256/{digest}", data));
            return new JsonObject { ["mediaType"] = mediaType, ["digest"] = "sha256:" + digest, ["size"] = data.Length };
        }

        byte[] layer = LayerTar(TarEntryFormat.Pax);
        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
            ["config"] = Descriptor("application/vnd.oci.image.config.v1+json", Encoding.UTF8.GetBytes(Config)),
            ["layers"] = new JsonArray(gzip
                ? Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", Gzip(layer))
                : Descriptor("application/vnd.oci.image.layer.v1.tar", layer)),
        };
        var manifestDescriptor = Descriptor("application/vnd.oci.image.manifest.v1+json", Encoding.UTF8.GetBytes(manifest.ToJsonString()));
        manifestDescriptor["annotations"] = new JsonObject { ["io.containerd.image.name"] = "example:oci" };
        manifestDescriptor["platform"] = new JsonObject { ["os"] = "linux", ["architecture"] = "amd64" };
        var index = new JsonObject { ["schemaVersion"] = 2, ["manifests"] = new JsonArray(manifestDescriptor) };
        return Tar([("oci-layout", """{"imageLayoutVersion":"1.0.0"}"""u8.ToArray()), ("index.json", Encoding.UTF8.GetBytes(index.ToJsonString())), .. blobs]);
    }

    private static byte[] Gzip(byte[] data)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(data);
        }

        return buffer.ToArray();
    }

    private static byte[] Tar(IEnumerable<(string Name, byte[] Data)> files)
    {
        using var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var (name, data) in files)
            {
                writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(data), Mode = (UnixFileMode)0b110_100_100 });
            }
        }

        return buffer.ToArray();
    }
}
