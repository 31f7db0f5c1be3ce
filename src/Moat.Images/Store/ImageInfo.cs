using System.Text.Json.Serialization;

namespace Moat.Images.Store;

/// <summary>What the store knows about one image: its content digest, the tags pointing at it and how to run it.</summary>
/// <param name="Digest">Hex SHA-256 of the tree serialization described in docs/images.md; also the folder name.</param>
/// <param name="Tags">Names pointing at this image (a tag points at exactly one image).</param>
/// <param name="Created">When the image was committed to the store.</param>
/// <param name="Size">Sum of regular file sizes, in bytes.</param>
/// <param name="FileCount">Number of entries in the tree (files, directories, links, device nodes), excluding the root.</param>
/// <param name="Source">How it was made, e.g. "busybox /bin/busybox", "debootstrap bookworm http://…", "import docker-save x.tar".</param>
/// <param name="Config">The OCI process defaults of the image.</param>
/// <param name="PackageManager">Package manager found in the tree.</param>
public sealed record ImageInfo(
    string Digest,
    IReadOnlyList<string> Tags,
    DateTimeOffset Created,
    long Size,
    long FileCount,
    string Source,
    ImageConfig Config,
    PackageManager PackageManager)
{
    /// <summary>The first 12 hex digits, enough to name an image on a command line.</summary>
    [JsonIgnore]
    public string ShortDigest => Digest[..12];
}

/// <summary>The OCI image config fields a sandbox needs to start the image's default process.</summary>
public sealed record ImageConfig(
    IReadOnlyList<string> Env,
    IReadOnlyList<string> Cmd,
    IReadOnlyList<string> Entrypoint,
    string WorkingDir,
    string User)
{
    /// <summary>No entrypoint or command, PATH set, root in /.</summary>
    public static ImageConfig Default { get; } = new(
        ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], [], [], "/", "");
}

/// <summary>The package manager an image carries, so a sandbox knows how to add software.</summary>
public enum PackageManager
{
    [JsonStringEnumMemberName("none")]
    None,

    [JsonStringEnumMemberName("dpkg")]
    Dpkg,

    [JsonStringEnumMemberName("apk")]
    Apk,
}

/// <summary>One step of a long build or import, for a progress bar or a log.</summary>
/// <param name="Stage">What is happening, e.g. "debootstrap", "layer 2/3", "digest".</param>
/// <param name="Message">A line for people (a tool's output line, a note about a skipped device node).</param>
/// <param name="Done">Units done in this stage, when countable.</param>
/// <param name="Total">Units in this stage, when known.</param>
public sealed record ImageProgress(string Stage, string Message, long Done = 0, long? Total = null);
