using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Moat.Images.Tests.Import;

/// <summary>One entry of a layer tar a test writes.</summary>
internal sealed record LayerEntry(string Name, TarEntryType Type = TarEntryType.RegularFile, string? Content = null, string? Link = null, UnixFileMode? Mode = null, int Uid = 0, int Gid = 0)
{
    public static LayerEntry File(string name, string content, UnixFileMode? mode = null) => new(name, TarEntryType.RegularFile, content, Mode: mode);

    public static LayerEntry Dir(string name) => new(name, TarEntryType.Directory);

    public static LayerEntry Symlink(string name, string target) => new(name, TarEntryType.SymbolicLink, Link: target);

    public static LayerEntry HardLink(string name, string target) => new(name, TarEntryType.HardLink, Link: target);
}

/// <summary>Builds layer tars, 'docker save' archives and OCI image layouts in memory with TarWriter.</summary>
internal static class TestArchives
{
    public const string Config = """{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin","A=1"],"Cmd":["/bin/sh","-c","echo hi"],"Entrypoint":["/init"],"WorkingDir":"/srv","User":"1000:1000"},"rootfs":{"type":"layers","diff_ids":[]}}""";

    private const UnixFileMode FileMode644 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode DirMode755 = FileMode644 | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    public static byte[] Layer(params LayerEntry[] entries)
    {
        using var buffer = new MemoryStream();
        using (var writer = new TarWriter(buffer, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (LayerEntry e in entries)
            {
                var entry = new PaxTarEntry(e.Type, e.Name)
                {
                    Mode = e.Mode ?? (e.Type == TarEntryType.Directory ? DirMode755 : FileMode644),
                    ModificationTime = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero),
                    Uid = e.Uid,
                    Gid = e.Gid,
                };
                if (e.Link is not null)
                {
                    entry.LinkName = e.Link;
                }

                if (e.Content is not null)
                {
                    entry.DataStream = new MemoryStream(Encoding.UTF8.GetBytes(e.Content));
                }

                writer.WriteEntry(entry);
            }
        }

        return buffer.ToArray();
    }

    public static byte[] Gzip(byte[] data)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(data);
        }

        return buffer.ToArray();
    }

    public static string Sha256(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    /// <summary>The layout of 'docker save' before Docker 25: &lt;id&gt;/layer.tar, &lt;config sha&gt;.json, manifest.json.</summary>
    public static void WriteDockerSave(string path, IReadOnlyList<byte[]> layers, string? repoTag = "example:latest", string config = Config)
    {
        byte[] configBytes = Encoding.UTF8.GetBytes(WithDiffIds(config, layers));
        string configName = Sha256(configBytes) + ".json";
        var files = new List<(string, byte[])> { (configName, configBytes) };
        var layerPaths = new JsonArray();
        for (int i = 0; i < layers.Count; i++)
        {
            string name = $"{Sha256(layers[i])}/layer.tar";
            files.Add((name, layers[i]));
            layerPaths.Add(name);
        }

        var manifest = new JsonArray(new JsonObject
        {
            ["Config"] = configName,
            ["RepoTags"] = repoTag is null ? new JsonArray() : new JsonArray(repoTag),
            ["Layers"] = layerPaths,
        });
        files.Add(("manifest.json", Encoding.UTF8.GetBytes(manifest.ToJsonString())));
        WriteTar(path, files);
    }

    /// <summary>Fills an empty rootfs.diff_ids with the sha256 of each layer's uncompressed tar, as 'docker save' writes it.</summary>
    public static string WithDiffIds(string config, IReadOnlyList<byte[]> layers)
    {
        var root = JsonNode.Parse(config)!.AsObject();
        if (root["rootfs"]?["diff_ids"] is JsonArray { Count: 0 } ids)
        {
            foreach (byte[] layer in layers)
            {
                ids.Add("sha256:" + Sha256(Gunzip(layer)));
            }

            return root.ToJsonString();
        }

        return config;
    }

    private static byte[] Gunzip(byte[] data)
    {
        if (data.Length < 2 || data[0] != 0x1F || data[1] != 0x8B)
        {
            return data;
        }

        using var output = new MemoryStream();
        try
        {
            using var gzip = new GZipStream(new MemoryStream(data), CompressionMode.Decompress);
            gzip.CopyTo(output);
        }
        catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException)
        {
            // A deliberately truncated layer: its diff id does not matter, the import fails on reading it.
        }

        return output.ToArray();
    }

    /// <summary>An OCI image layout; <paramref name="tamper"/> may change a blob's bytes after its digest was taken.</summary>
    public static void WriteOci(
        string path, IReadOnlyList<byte[]> layers, string? refName = "example:oci", bool gzip = true, Func<string, byte[], byte[]>? tamper = null, string config = Config)
    {
        var blobs = new List<(string Digest, byte[] Data)>();
        JsonObject Descriptor(string mediaType, byte[] data)
        {
            string digest = Sha256(data);
            blobs.Add((digest, data));
            return new JsonObject { ["mediaType"] = mediaType, ["digest"] = "sha256:" + digest, ["size"] = data.Length };
        }

        JsonObject configDescriptor = Descriptor("application/vnd.oci.image.config.v1+json", Encoding.UTF8.GetBytes(config));
        var layerDescriptors = new JsonArray();
        foreach (byte[] layer in layers)
        {
            layerDescriptors.Add(gzip
                ? Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", Gzip(layer))
                : Descriptor("application/vnd.oci.image.layer.v1.tar", layer));
        }

        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
            ["config"] = configDescriptor,
            ["layers"] = layerDescriptors,
        };
        JsonObject manifestDescriptor = Descriptor("application/vnd.oci.image.manifest.v1+json", Encoding.UTF8.GetBytes(manifest.ToJsonString()));
        if (refName is not null)
        {
            manifestDescriptor["annotations"] = new JsonObject { ["io.containerd.image.name"] = refName };
        }

        manifestDescriptor["platform"] = new JsonObject { ["os"] = "linux", ["architecture"] = "amd64" };
        var index = new JsonObject { ["schemaVersion"] = 2, ["manifests"] = new JsonArray(manifestDescriptor) };
        var files = new List<(string, byte[])>
        {
            ("oci-layout", """{"imageLayoutVersion":"1.0.0"}"""u8.ToArray()),
            ("index.json", Encoding.UTF8.GetBytes(index.ToJsonString())),
        };
        foreach (var (digest, data) in blobs)
        {
            files.Add(($"blobs/sha256/{digest}", tamper?.Invoke(digest, data) ?? data));
        }

        WriteTar(path, files);
    }

    public static void WriteTar(string path, IEnumerable<(string Name, byte[] Data)> files, IEnumerable<(string Name, string Target)>? symlinks = null)
    {
        using var stream = System.IO.File.Create(path);
        using var writer = new TarWriter(stream, TarEntryFormat.Pax);
        foreach (var (name, data) in files)
        {
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(data), Mode = FileMode644 });
        }

        foreach (var (name, target) in symlinks ?? [])
        {
            writer.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, name) { LinkName = target });
        }
    }
}
