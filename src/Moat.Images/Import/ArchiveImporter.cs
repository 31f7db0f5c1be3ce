using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using Moat.Images.Store;
using Moat.Linux.Files;

namespace Moat.Images.Import;

/// <summary>
/// Reads a <c>docker save</c> tar or an OCI image-layout tar: finds the manifest, verifies blobs against their sha256
/// names, and applies the layers in order into a root file system.
/// </summary>
internal static class ArchiveImporter
{
    private const string OciIndex = "index.json";
    private const string DockerManifest = "manifest.json";

    internal static ImportedImage Import(
        string archivePath, string rootfs, string scratch, ImportLimits limits, IProgress<ImageProgress>? progress, CancellationToken cancellationToken)
    {
        var file = new FileInfo(archivePath);
        if (!file.Exists)
        {
            throw new ImageNotFoundException($"Archive {archivePath} does not exist; give the path of a 'docker save' or OCI layout tar.");
        }

        if (file.Length > limits.MaxArchiveBytes)
        {
            throw new ImageArchiveException($"Archive {archivePath} is {file.Length} bytes, over the import limit of {limits.MaxArchiveBytes} bytes.");
        }

        Directory.CreateDirectory(scratch);
        string tarPath = DecompressOuter(archivePath, scratch, limits, progress, cancellationToken);
        var archive = OuterArchive.Index(tarPath, archivePath);
        archive.VerifyContentAddressedBlobs(progress, cancellationToken);

        // The root's mode is part of the digest; without a "./" entry in the layers it must not depend on the umask.
        Directory.CreateDirectory(rootfs);
        File.SetUnixFileMode(rootfs, LayerApplier.DefaultDirectoryMode);
        using var tree = RootedDirectory.Open(rootfs);
        var applier = new LayerApplier(tree, limits, progress);
        try
        {
            if (archive.Contains(OciIndex))
            {
                return ImportOci(archive, applier, limits, progress, cancellationToken);
            }

            if (archive.Contains(DockerManifest))
            {
                return ImportDocker(archive, applier, limits, progress, cancellationToken);
            }
        }
        catch (InvalidOperationException ex) when (ex.TargetSite?.DeclaringType?.Assembly == typeof(JsonElement).Assembly)
        {
            // JsonElement.GetString() and friends throw this for a value of another kind or for invalid UTF-8.
            throw new ImageArchiveException(
                $"The manifest, index or config in {archivePath} has a value of the wrong kind or text that is not UTF-8 ({ex.Message}).", ex);
        }

        throw new ImageArchiveException(
            $"Archive {archivePath} is neither a 'docker save' tar (manifest.json) nor an OCI image layout (oci-layout and index.json).");
    }

    private static ImportedImage ImportDocker(
        OuterArchive archive, LayerApplier applier, ImportLimits limits, IProgress<ImageProgress>? progress, CancellationToken cancellationToken)
    {
        using JsonDocument manifest = archive.ReadJson(DockerManifest, limits);
        if (manifest.RootElement.ValueKind != JsonValueKind.Array || manifest.RootElement.GetArrayLength() == 0)
        {
            throw new ImageArchiveException($"manifest.json in {archive.Name} is not a non-empty array of images.");
        }

        JsonElement image = manifest.RootElement[0];
        if (image.ValueKind != JsonValueKind.Object)
        {
            throw new ImageArchiveException($"manifest.json in {archive.Name} is not a non-empty array of images.");
        }

        string configPath = RequiredString(image, "Config", archive.Name);
        using JsonDocument config = archive.ReadJson(configPath, limits);
        string? tag = image.TryGetProperty("RepoTags", out JsonElement tags) && tags.ValueKind == JsonValueKind.Array && tags.GetArrayLength() > 0
            && tags[0].ValueKind == JsonValueKind.String
            ? tags[0].GetString()
            : null;
        if (!image.TryGetProperty("Layers", out JsonElement layers) || layers.ValueKind != JsonValueKind.Array)
        {
            throw new ImageArchiveException($"manifest.json in {archive.Name} has no Layers list.");
        }

        int count = layers.GetArrayLength();
        CheckLayerCount(count, archive.Name, limits);
        var paths = new List<string>();
        foreach (JsonElement layer in layers.EnumerateArray())
        {
            string path = layer.ValueKind == JsonValueKind.String && layer.GetString() is { Length: > 0 } text
                ? text
                : throw new ImageArchiveException($"manifest.json in {archive.Name} has a layer that is not a path.");
            archive.Open(path).Dispose(); // a layer path outside the archive or missing from it is refused before anything is applied
            paths.Add(path);
        }

        List<string> diffIds = DiffIds(config.RootElement, configPath, count, archive.Name);
        int index = 0;
        foreach (string path in paths)
        {
            index++;
            progress?.Report(new ImageProgress("layer", $"applying layer {index}/{count} ({path})", index, count));
            string diffId = ApplyLayer(archive, path, $"{index} ({path})", applier, cancellationToken);
            if (diffId != diffIds[index - 1])
            {
                throw new ImageArchiveException(
                    $"Layer {index} ({path}) in {archive.Name} does not match its digest: the config lists sha256:{diffIds[index - 1]}, its content hashes to sha256:{diffId}; the archive is corrupt or tampered with.");
            }
        }

        return new ImportedImage("docker-save", ReadConfig(config.RootElement), tag);
    }

    private static ImportedImage ImportOci(
        OuterArchive archive, LayerApplier applier, ImportLimits limits, IProgress<ImageProgress>? progress, CancellationToken cancellationToken)
    {
        if (!archive.Contains("oci-layout"))
        {
            throw new ImageArchiveException($"Archive {archive.Name} has index.json but no oci-layout file, so it is not an OCI image layout.");
        }

        using JsonDocument index = archive.ReadJson(OciIndex, limits);
        string? tag = null;
        JsonElement descriptor = PickManifest(index.RootElement, archive.Name, ref tag);

        // An index may point at further indexes (multi-platform images); follow a bounded number of them.
        for (int depth = 0; ; depth++)
        {
            string mediaType = descriptor.TryGetProperty("mediaType", out JsonElement mt) ? mt.GetString() ?? "" : "";
            if (!mediaType.Contains("index", StringComparison.Ordinal) && !mediaType.Contains("manifest.list", StringComparison.Ordinal))
            {
                break;
            }

            if (depth == 4)
            {
                throw new ImageArchiveException($"Archive {archive.Name} nests image indexes more than 4 deep.");
            }

            using JsonDocument nested = archive.ReadJson(archive.BlobPath(descriptor, limits), limits);
            descriptor = PickManifest(nested.RootElement, archive.Name, ref tag).Clone();
        }

        using JsonDocument manifest = archive.ReadJson(archive.BlobPath(descriptor, limits), limits);
        if (!manifest.RootElement.TryGetProperty("config", out JsonElement configDescriptor))
        {
            throw new ImageArchiveException($"The image manifest in {archive.Name} has no config descriptor.");
        }

        using JsonDocument config = archive.ReadJson(archive.BlobPath(configDescriptor, limits), limits);
        if (!manifest.RootElement.TryGetProperty("layers", out JsonElement layers) || layers.ValueKind != JsonValueKind.Array)
        {
            throw new ImageArchiveException($"The image manifest in {archive.Name} has no layers list.");
        }

        int count = layers.GetArrayLength();
        CheckLayerCount(count, archive.Name, limits);
        int i = 0;
        foreach (JsonElement layer in layers.EnumerateArray())
        {
            i++;
            string path = archive.BlobPath(layer, long.MaxValue);
            progress?.Report(new ImageProgress("layer", $"applying layer {i}/{count} ({path})", i, count));
            ApplyLayer(archive, path, $"{i} ({path})", applier, cancellationToken);
        }

        return new ImportedImage("oci", ReadConfig(config.RootElement), tag);
    }

    private static JsonElement PickManifest(JsonElement index, string archiveName, ref string? tag)
    {
        if (!index.TryGetProperty("manifests", out JsonElement manifests) || manifests.ValueKind != JsonValueKind.Array || manifests.GetArrayLength() == 0)
        {
            throw new ImageArchiveException($"The image index in {archiveName} lists no manifests.");
        }

        JsonElement chosen = manifests[0];
        foreach (JsonElement m in manifests.EnumerateArray())
        {
            if (m.TryGetProperty("platform", out JsonElement platform)
                && platform.TryGetProperty("os", out JsonElement os) && os.GetString() == "linux"
                && platform.TryGetProperty("architecture", out JsonElement arch) && arch.GetString() == "amd64")
            {
                chosen = m;
                break;
            }
        }

        if (tag is null && chosen.TryGetProperty("annotations", out JsonElement annotations))
        {
            foreach (string key in new[] { "io.containerd.image.name", "org.opencontainers.image.ref.name" })
            {
                if (annotations.TryGetProperty(key, out JsonElement value) && value.GetString() is { Length: > 0 } name)
                {
                    tag = name;
                    break;
                }
            }
        }

        return chosen.Clone();
    }

    private static void CheckLayerCount(int count, string archiveName, ImportLimits limits)
    {
        if (count > limits.MaxLayers)
        {
            throw new ImageArchiveException(
                $"The image in {archiveName} lists {count} layers; an image may have at most {limits.MaxLayers} layers (a layer listed twice counts twice).");
        }
    }

    /// <summary>The uncompressed-layer digests a 'docker save' config lists (rootfs.diff_ids), one per layer, as hex.</summary>
    private static List<string> DiffIds(JsonElement config, string configPath, int layerCount, string archiveName)
    {
        var ids = new List<string>();
        if (config.ValueKind == JsonValueKind.Object
            && config.TryGetProperty("rootfs", out JsonElement rootfs) && rootfs.ValueKind == JsonValueKind.Object
            && rootfs.TryGetProperty("diff_ids", out JsonElement list) && list.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement id in list.EnumerateArray())
            {
                string text = id.ValueKind == JsonValueKind.String ? id.GetString() ?? "" : "";
                if (!text.StartsWith("sha256:", StringComparison.Ordinal) || text.Length != 71 || !text[7..].All(char.IsAsciiHexDigitLower))
                {
                    throw new ImageArchiveException($"Config {configPath} in {archiveName} lists the layer digest '{text}', which is not sha256:<64 lowercase hex digits>.");
                }

                ids.Add(text[7..]);
            }
        }

        return ids.Count == layerCount
            ? ids
            : throw new ImageArchiveException(
                $"Config {configPath} in {archiveName} lists {ids.Count} layer digests (rootfs.diff_ids) for {layerCount} layers, so the layers cannot be verified; 'docker save' writes one per layer.");
    }

    /// <summary>Applies one layer and returns the sha256 (hex) of its uncompressed tar, its diff id.</summary>
    private static string ApplyLayer(OuterArchive archive, string path, string layerName, LayerApplier applier, CancellationToken cancellationToken)
    {
        using Stream raw = archive.Open(path);
        Span<byte> magic = stackalloc byte[4];
        int read = raw.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
        raw.Position = 0;
        if (read >= 4 && magic[0] == 0x28 && magic[1] == 0xB5 && magic[2] == 0x2F && magic[3] == 0xFD)
        {
            throw new ImageArchiveException(
                $"Layer {layerName} is zstd-compressed, which .NET's base library cannot read; export the image with gzip or uncompressed layers (e.g. 'docker save', or 'skopeo copy --dest-compress-format gzip').");
        }

        using Stream unpacked = read >= 2 && magic[0] == 0x1F && magic[1] == 0x8B
            ? new GZipStream(raw, CompressionMode.Decompress, leaveOpen: true)
            : raw;
        using var metered = new MeteredStream(unpacked, applier.CountUnpacked);
        try
        {
            applier.Apply(metered, layerName, cancellationToken);
            metered.Drain(cancellationToken);
        }
        catch (InvalidDataException ex)
        {
            throw new ImageArchiveException($"Layer {layerName} is a corrupt or truncated gzip stream ({ex.Message}).", ex);
        }

        return metered.Sha256Hex();
    }

    private static ImageConfig ReadConfig(JsonElement root)
    {
        if (!root.TryGetProperty("config", out JsonElement config) || config.ValueKind != JsonValueKind.Object)
        {
            return ImageConfig.Default;
        }

        static List<string> Strings(JsonElement parent, string name) =>
            parent.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.Array
                ? [.. value.EnumerateArray().Select(v => v.GetString() ?? "")]
                : [];

        static string Text(JsonElement parent, string name) =>
            parent.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.String ? value.GetString() ?? "" : "";

        string workingDir = Text(config, "WorkingDir");
        return new ImageConfig(
            Strings(config, "Env"), Strings(config, "Cmd"), Strings(config, "Entrypoint"), workingDir.Length == 0 ? "/" : workingDir, Text(config, "User"));
    }

    private static string RequiredString(JsonElement element, string name, string archiveName)
    {
        return element.TryGetProperty(name, out JsonElement value) && value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } text
            ? text
            : throw new ImageArchiveException($"manifest.json in {archiveName} has no '{name}' entry.");
    }

    private static string DecompressOuter(
        string archivePath, string scratch, ImportLimits limits, IProgress<ImageProgress>? progress, CancellationToken cancellationToken)
    {
        byte[] magic = new byte[4];
        int read;
        using (var probe = File.OpenRead(archivePath))
        {
            read = probe.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
        }

        if (read >= 4 && magic[0] == 0x28 && magic[1] == 0xB5 && magic[2] == 0x2F && magic[3] == 0xFD)
        {
            throw new ImageArchiveException(
                $"Archive {archivePath} is zstd-compressed, which .NET's base library cannot read; decompress it first ('zstd -d') and import the .tar.");
        }

        if (read < 2 || magic[0] != 0x1F || magic[1] != 0x8B)
        {
            return archivePath;
        }

        // The outer tar is read by offset (blobs are opened many times), so a gzip wrapper is unpacked once to scratch.
        progress?.Report(new ImageProgress("decompress", $"decompressing {archivePath}"));
        string tarPath = Path.Combine(scratch, "archive.tar");
        using var input = new GZipStream(File.OpenRead(archivePath), CompressionMode.Decompress);
        using var output = new FileStream(tarPath, FileMode.CreateNew, FileAccess.Write);
        byte[] buffer = new byte[1 << 16];
        try
        {
            int n;
            while ((n = input.Read(buffer)) > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                output.Write(buffer, 0, n);
                if (output.Length > limits.MaxArchiveBytes)
                {
                    throw new ImageArchiveException($"Archive {archivePath} decompresses to more than the import limit of {limits.MaxArchiveBytes} bytes.");
                }
            }
        }
        catch (InvalidDataException ex)
        {
            throw new ImageArchiveException($"Archive {archivePath} is a corrupt or truncated gzip file ({ex.Message}).", ex);
        }

        return tarPath;
    }

    /// <summary>The outer tar, indexed by entry name so blobs can be opened in any order without copying them out.</summary>
    private sealed class OuterArchive
    {
        private readonly string _tarPath;
        private readonly Dictionary<string, (long Offset, long Length)> _files = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> _links = new(StringComparer.Ordinal);

        private OuterArchive(string tarPath, string name)
        {
            _tarPath = tarPath;
            Name = name;
        }

        internal string Name { get; }

        internal static OuterArchive Index(string tarPath, string name)
        {
            var archive = new OuterArchive(tarPath, name);
            using var stream = File.OpenRead(tarPath);
            long length = stream.Length;
            using var reader = new TarReader(new TarHeaderGuard(stream));
            try
            {
                while (reader.GetNextEntry(copyData: false) is { } entry)
                {
                    string path = LayerApplier.Normalize(entry.Name, "archive");
                    if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile)
                    {
                        if (entry.DataOffset + entry.Length > length)
                        {
                            throw new ImageArchiveException($"Archive {name} is truncated: '{path}' needs {entry.Length} bytes but the file ends early.");
                        }

                        archive._files[path] = (entry.DataOffset, entry.Length);
                    }
                    else if (entry.EntryType is TarEntryType.SymbolicLink or TarEntryType.HardLink)
                    {
                        // Legacy 'docker save' links identical layers to each other.
                        string target = entry.EntryType == TarEntryType.HardLink
                            ? entry.LinkName
                            : Path.Combine(Path.GetDirectoryName(path) ?? "", entry.LinkName);
                        archive._links[path] = LayerApplier.Normalize(Path.GetFullPath(target, "/")[1..], "archive");
                    }
                }
            }
            catch (Exception ex) when (LayerApplier.IsTarDefect(ex))
            {
                throw new ImageArchiveException($"Archive {name} is truncated or not a tar file ({ex.Message}).", ex);
            }

            return archive;
        }

        internal bool Contains(string path) => Resolve(path) is not null;

        internal Stream Open(string path)
        {
            string? resolved = Resolve(LayerApplier.Normalize(path, "archive"));
            if (resolved is null)
            {
                throw new ImageArchiveException($"Archive {Name} refers to '{path}', which it does not contain.");
            }

            var (offset, length) = _files[resolved];
            return new SliceStream(File.OpenRead(_tarPath), offset, length);
        }

        internal JsonDocument ReadJson(string path, ImportLimits limits)
        {
            using Stream stream = Open(path);
            if (stream.Length > limits.MaxMetadataBytes)
            {
                throw new ImageArchiveException($"'{path}' in {Name} is {stream.Length} bytes, over the {limits.MaxMetadataBytes}-byte limit for metadata.");
            }

            try
            {
                return JsonDocument.Parse(stream);
            }
            catch (JsonException ex)
            {
                throw new ImageArchiveException($"'{path}' in {Name} is not valid JSON ({ex.Message}).", ex);
            }
        }

        /// <summary>The path of a descriptor's blob, after checking the descriptor's size against the blob.</summary>
        internal string BlobPath(JsonElement descriptor, ImportLimits limits) => BlobPath(descriptor, limits.MaxMetadataBytes);

        internal string BlobPath(JsonElement descriptor, long maxSize)
        {
            string digest = descriptor.TryGetProperty("digest", out JsonElement d) ? d.GetString() ?? "" : "";
            string[] parts = digest.Split(':');
            if (parts.Length != 2 || parts[0] != "sha256" || parts[1].Length != 64 || !parts[1].All(char.IsAsciiHexDigitLower))
            {
                throw new ImageArchiveException($"Descriptor digest '{digest}' in {Name} is not a sha256 digest (sha256:<64 lowercase hex digits>).");
            }

            string path = $"blobs/sha256/{parts[1]}";
            string? resolved = Resolve(path) ?? throw new ImageArchiveException($"Archive {Name} is missing blob {digest}.");
            long actual = _files[resolved].Length;
            if (descriptor.TryGetProperty("size", out JsonElement size) && size.TryGetInt64(out long declared) && declared != actual)
            {
                throw new ImageArchiveException($"Blob {digest} in {Name} is {actual} bytes but its descriptor says {declared}.");
            }

            if (actual > maxSize)
            {
                throw new ImageArchiveException($"Blob {digest} in {Name} is {actual} bytes, over the {maxSize}-byte limit for metadata.");
            }

            return path;
        }

        /// <summary>Every file named by a sha256 (OCI blobs, legacy config files) must hash to its name.</summary>
        internal void VerifyContentAddressedBlobs(IProgress<ImageProgress>? progress, CancellationToken cancellationToken)
        {
            // Links too: a blob name that is a link to other content must hash to its name like any file.
            foreach (string path in _files.Keys.Concat(_links.Keys).Where(p => Resolve(p) is not null))
            {
                string? expected = path.StartsWith("blobs/sha256/", StringComparison.Ordinal) ? path["blobs/sha256/".Length..]
                    : path.EndsWith(".json", StringComparison.Ordinal) && path.Length == 69 ? path[..64]
                    : null;
                if (expected is null || expected.Length != 64 || !expected.All(char.IsAsciiHexDigitLower))
                {
                    continue;
                }

                cancellationToken.ThrowIfCancellationRequested();
                progress?.Report(new ImageProgress("verify", $"verifying {path}"));
                using Stream stream = Open(path);
                string actual = Convert.ToHexStringLower(SHA256.HashData(stream));
                if (actual != expected)
                {
                    throw new ImageArchiveException($"Blob '{path}' in {Name} does not match its digest (content hashes to sha256:{actual}); the archive is corrupt or tampered with.");
                }
            }
        }

        private string? Resolve(string path)
        {
            for (int hops = 0; hops < 8; hops++)
            {
                if (_files.ContainsKey(path))
                {
                    return path;
                }

                if (!_links.TryGetValue(path, out string? next))
                {
                    return null;
                }

                path = next;
            }

            return null;
        }
    }
}
