using System.Text.RegularExpressions;
using Moat.Images.Build;
using Moat.Images.Import;
using Moat.Linux.Files;

namespace Moat.Images.Store;

/// <summary>
/// The host's content-addressed store of read-only reference images: <c>&lt;root&gt;/&lt;sha256&gt;/rootfs</c> plus
/// <c>image.json</c>. Images are built in a temp folder under the root and renamed into place once their digest is
/// known, so a crash never leaves half an image; leftover temp folders are removed by <see cref="Open"/>.
/// </summary>
public sealed partial class ImageStore
{
    internal const string TempPrefix = ".tmp-";
    private const string RootfsName = "rootfs";
    private const string MetadataName = "image.json";
    private const string LockName = ".lock";
    private const UnixFileMode PrivateFolder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private readonly TimeProvider _timeProvider;
    private readonly Lock _tagLock = new();

    private ImageStore(string root, TimeProvider timeProvider, ImportLimits limits)
    {
        Root = root;
        _timeProvider = timeProvider;
        Limits = limits;
    }

    /// <summary>The folder holding the images (e.g. /var/lib/moat/images).</summary>
    public string Root { get; }

    /// <summary>Bounds an import must stay within.</summary>
    public ImportLimits Limits { get; }

    /// <summary>
    /// Opens (creating if needed) the store at <paramref name="root"/>, 0700, and removes temp folders a crash left
    /// behind. An existing store is tightened to 0700 too: images may hold setuid-root files from a hostile import,
    /// which are harmless only while no other user can walk to them (the agent and the honeyfarm read them as root).
    /// </summary>
    public static ImageStore Open(string root, TimeProvider? timeProvider = null, ImportLimits? limits = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        string full = Path.GetFullPath(root);
        Directory.CreateDirectory(full, PrivateFolder);
        File.SetUnixFileMode(full, PrivateFolder);
        foreach (string leftover in Directory.EnumerateDirectories(full, TempPrefix + "*"))
        {
            TempTree.Delete(leftover);
        }

        return new ImageStore(full, timeProvider ?? TimeProvider.System, limits ?? ImportLimits.Default);
    }

    /// <summary>Every image in the store, newest first.</summary>
    public IReadOnlyList<ImageInfo> List()
    {
        var images = new List<ImageInfo>();
        foreach (string dir in Directory.EnumerateDirectories(Root))
        {
            string name = Path.GetFileName(dir);
            string metadata = Path.Combine(dir, MetadataName);
            if (IsDigest(name) && File.Exists(metadata))
            {
                images.Add(ImageJson.Read(metadata));
            }
        }

        images.Sort((a, b) => b.Created.CompareTo(a.Created) is var c && c != 0 ? c : string.CompareOrdinal(a.Digest, b.Digest));
        return images;
    }

    /// <summary>
    /// Finds an image by exact tag, else by a unique prefix of its digest (optionally written "sha256:…").
    /// Returns null when nothing matches; throws <see cref="ImageNotFoundException"/> when a prefix is ambiguous.
    /// </summary>
    public ImageInfo? Resolve(string nameOrDigestPrefix)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nameOrDigestPrefix);
        IReadOnlyList<ImageInfo> images = List();
        ImageInfo? tagged = images.FirstOrDefault(i => i.Tags.Contains(nameOrDigestPrefix, StringComparer.Ordinal));
        if (tagged is not null)
        {
            return tagged;
        }

        string prefix = nameOrDigestPrefix.StartsWith("sha256:", StringComparison.Ordinal) ? nameOrDigestPrefix[7..] : nameOrDigestPrefix;
        if (!HexPrefix().IsMatch(prefix))
        {
            return null;
        }

        var matches = images.Where(i => i.Digest.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        return matches.Count switch
        {
            0 => null,
            1 => matches[0],
            _ => throw new ImageNotFoundException(
                $"Image name '{nameOrDigestPrefix}' is ambiguous: it is a prefix of {string.Join(", ", matches.Select(m => m.Digest))}; give more digits."),
        };
    }

    /// <summary>Like <see cref="Resolve"/>, but an unknown name is an error that lists what exists.</summary>
    public ImageInfo Get(string nameOrDigestPrefix)
    {
        return Resolve(nameOrDigestPrefix) ?? throw new ImageNotFoundException(
            $"No image is named '{nameOrDigestPrefix}'; known images: {Describe(List())}.");
    }

    /// <summary>The read-only root file system of <paramref name="image"/>, for use as an overlay lower layer.</summary>
    public string RootfsPath(ImageInfo image)
    {
        ArgumentNullException.ThrowIfNull(image);
        return Path.Combine(Root, image.Digest, RootfsName);
    }

    /// <summary>Points <paramref name="tag"/> at the image named <paramref name="nameOrDigestPrefix"/>, moving it off any other image.</summary>
    public ImageInfo Tag(string nameOrDigestPrefix, string tag)
    {
        ValidateTag(tag);
        ImageInfo image = Get(nameOrDigestPrefix);
        return ApplyTag(image, tag);
    }

    /// <summary>
    /// Removes an image and its tags. <paramref name="isInUse"/> is asked first (e.g. "does a sandbox's overlay use
    /// this lower?"); a used image is refused with <see cref="ImageInUseException"/>.
    /// </summary>
    public Task RemoveAsync(string nameOrDigestPrefix, Func<ImageInfo, bool>? isInUse = null, CancellationToken cancellationToken = default)
    {
        ImageInfo image = Get(nameOrDigestPrefix);
        if (isInUse?.Invoke(image) == true)
        {
            throw new ImageInUseException($"Image {image.ShortDigest} ({Describe([image])}) is in use by a sandbox; destroy the sandbox first.");
        }

        return Task.Run(
            () =>
            {
                // Renaming first makes removal atomic: a crash mid-delete leaves a temp folder Open() removes.
                string doomed = Path.Combine(Root, TempPrefix + "rm-" + image.Digest);
                using (LockStore())
                {
                    Directory.Move(Path.Combine(Root, image.Digest), doomed);
                }

                TempTree.Delete(doomed);
            },
            cancellationToken);
    }

    /// <summary>Recomputes the digest of an image's tree: true when the tree is unchanged since it was committed.</summary>
    public Task<bool> VerifyAsync(ImageInfo image, CancellationToken cancellationToken = default)
    {
        return Task.Run(() => TreeDigest.Compute(RootfsPath(image), cancellationToken).Digest == image.Digest, cancellationToken);
    }

    /// <summary>Builds the small test image from Debian's busybox-static: the binary, its applet links, minimal /etc.</summary>
    public Task<ImageInfo> BuildBusyboxAsync(string? tag = "busybox", string busyboxPath = "/bin/busybox", CancellationToken cancellationToken = default)
    {
        return BuildAsync(
            tag,
            (rootfs, ct) => BusyboxBuilder.BuildAsync(rootfs, busyboxPath, ct),
            $"busybox {busyboxPath}",
            BusyboxBuilder.Config,
            progress: null,
            cancellationToken);
    }

    /// <summary>Builds a minimal Debian with debootstrap from the mirror apt uses on this host (or <see cref="DebianBuildOptions.Mirror"/>).</summary>
    public Task<ImageInfo> BuildDebianAsync(
        string? tag = "debian",
        DebianBuildOptions? options = null,
        IProgress<ImageProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        options ??= DebianBuildOptions.Default;
        string mirror = options.Mirror ?? AptSources.FindMirror(options.Suite)
            ?? throw new ImageBuildException($"No apt source on this host serves suite '{options.Suite}'; pass a mirror URL explicitly.");
        return BuildAsync(
            tag,
            (rootfs, ct) => DebianBuilder.BuildAsync(rootfs, options.Suite, mirror, options.DebootstrapPath, progress, ct),
            $"debootstrap --variant=minbase {options.Suite} {mirror}",
            ImageConfig.Default with { Cmd = ["/bin/bash"] },
            progress,
            cancellationToken);
    }

    /// <summary>
    /// Imports a <c>docker save</c> tar or an OCI image-layout tar (optionally gzip-compressed). Layers are applied in
    /// order with whiteouts; archives that try to escape the root file system, are truncated or exceed
    /// <see cref="Limits"/> are refused with <see cref="ImageArchiveException"/> and leave nothing behind.
    /// </summary>
    public async Task<ImageInfo> ImportAsync(
        string archivePath,
        string? tag,
        IProgress<ImageProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(archivePath);
        if (tag is not null)
        {
            ValidateTag(tag);
        }

        string temp = CreateTempFolder();
        try
        {
            string rootfs = Path.Combine(temp, RootfsName);
            ImportedImage imported = await Task.Run(
                () => ArchiveImporter.Import(archivePath, rootfs, Path.Combine(temp, "scratch"), Limits, progress, cancellationToken),
                cancellationToken).ConfigureAwait(false);
            TempTree.Delete(Path.Combine(temp, "scratch"));
            string? chosenTag = tag ?? (imported.SuggestedTag is { } suggested && TagPattern().IsMatch(suggested) ? suggested : null);
            return Commit(temp, chosenTag, $"import {imported.Format} {Path.GetFileName(archivePath)}", imported.Config, progress, cancellationToken);
        }
        finally
        {
            TempTree.Delete(temp);
        }
    }

    internal async Task<ImageInfo> BuildAsync(
        string? tag,
        Func<string, CancellationToken, Task> fill,
        string source,
        ImageConfig config,
        IProgress<ImageProgress>? progress,
        CancellationToken cancellationToken)
    {
        if (tag is not null)
        {
            ValidateTag(tag);
        }

        string temp = CreateTempFolder();
        try
        {
            string rootfs = Path.Combine(temp, RootfsName);
            Directory.CreateDirectory(rootfs);
            File.SetUnixFileMode(rootfs, LayerApplier.DefaultDirectoryMode);
            await fill(rootfs, cancellationToken).ConfigureAwait(false);
            return await Task.Run(() => Commit(temp, tag, source, config, progress, cancellationToken), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            TempTree.Delete(temp);
        }
    }

    internal string CreateTempFolder()
    {
        string temp = Path.Combine(Root, TempPrefix + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(temp);
        return temp;
    }

    private ImageInfo Commit(string temp, string? tag, string source, ImageConfig config, IProgress<ImageProgress>? progress, CancellationToken cancellationToken)
    {
        string rootfs = Path.Combine(temp, RootfsName);
        progress?.Report(new ImageProgress("digest", "computing the content digest of the tree"));
        TreeSummary summary = TreeDigest.Compute(rootfs, cancellationToken);
        string final = Path.Combine(Root, summary.Digest);
        ImageInfo image;
        using (LockStore())
        {
            if (Directory.Exists(final))
            {
                // Same content already stored: the new tree is redundant, the temp folder is deleted by the caller.
                image = ImageJson.Read(Path.Combine(final, MetadataName));
            }
            else
            {
                image = new ImageInfo(
                    summary.Digest, [], _timeProvider.GetUtcNow(), summary.Size, summary.FileCount, source, config, DetectPackageManager(rootfs));
                ImageJson.Write(Path.Combine(temp, MetadataName), image);
                Directory.Move(temp, final);
            }
        }

        progress?.Report(new ImageProgress("done", $"image {image.ShortDigest} stored"));
        return tag is null ? image : ApplyTag(image, tag);
    }

    private ImageInfo ApplyTag(ImageInfo image, string tag)
    {
        lock (_tagLock)
        {
            using FileStream storeLock = LockStore();

            // Take the tag off its old image before adding it: a crash in between loses the tag, never doubles it.
            foreach (ImageInfo other in List().Where(i => i.Digest != image.Digest && i.Tags.Contains(tag, StringComparer.Ordinal)))
            {
                ImageJson.Write(Path.Combine(Root, other.Digest, MetadataName), other with { Tags = [.. other.Tags.Where(t => t != tag)] });
            }

            ImageInfo current = ImageJson.Read(Path.Combine(Root, image.Digest, MetadataName));
            if (current.Tags.Contains(tag, StringComparer.Ordinal))
            {
                return current;
            }

            ImageInfo updated = current with { Tags = [.. current.Tags, tag] };
            ImageJson.Write(Path.Combine(Root, image.Digest, MetadataName), updated);
            return updated;
        }
    }

    /// <summary>
    /// Serializes commits, tag moves and removals across processes (a CLI beside the host agent) with flock on
    /// <c>&lt;root&gt;/.lock</c>, which .NET takes for FileShare.None. Held for milliseconds, so a bounded wait suffices.
    /// </summary>
    private FileStream LockStore()
    {
        string path = Path.Combine(Root, LockName);
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (attempt < 200)
            {
                Thread.Sleep(50);
            }
            catch (IOException ex)
            {
                throw new ImageException($"The image store {Root} stayed locked by another process for 10 s; check for a stuck 'moat image' command.", ex);
            }
        }
    }

    internal static PackageManager DetectPackageManager(string rootfs)
    {
        // Resolved inside the image: an image's "var -> /var" must not make the host's package database count as its own.
        using var tree = RootedReader.Open(rootfs);
        bool IsFile(string path) => tree.TryStatPath(path, RootedResolve.InRoot) is { Kind: RootedFileKind.Regular };
        return IsFile("var/lib/dpkg/status") ? PackageManager.Dpkg
            : IsFile("lib/apk/db/installed") ? PackageManager.Apk
            : PackageManager.None;
    }

    internal static void ValidateTag(string tag)
    {
        if (!TagPattern().IsMatch(tag) || HexPrefix().IsMatch(tag) && tag.Length >= 12)
        {
            throw new ImageException(
                $"Tag '{tag}' is not valid; use 1-128 characters of a-z, 0-9, '.', '_', '-', ':' or '/', starting with a letter or digit, and not a 12+ digit hex string (those name digests).");
        }
    }

    private static string Describe(IReadOnlyList<ImageInfo> images)
    {
        return images.Count == 0
            ? "none (build one with 'moat image build busybox')"
            : string.Join(", ", images.Select(i => i.Tags.Count == 0 ? i.ShortDigest : $"{string.Join("/", i.Tags)} ({i.ShortDigest})"));
    }

    private static bool IsDigest(string name) => name.Length == 64 && HexPrefix().IsMatch(name);

    [GeneratedRegex("^[0-9a-f]+$")]
    private static partial Regex HexPrefix();

    [GeneratedRegex("^[a-z0-9][a-z0-9._:/-]{0,127}$")]
    private static partial Regex TagPattern();
}
