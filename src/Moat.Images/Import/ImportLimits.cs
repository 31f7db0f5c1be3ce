namespace Moat.Images.Import;

/// <summary>Bounds an import must stay within, so a hostile or broken archive cannot fill the host's disk.</summary>
/// <param name="MaxArchiveBytes">Largest archive accepted (after decompressing an outer gzip).</param>
/// <param name="MaxUnpackedBytes">Largest total of file contents written to the root file system across all layers.</param>
/// <param name="MaxEntries">Largest number of tar entries across all layers.</param>
/// <param name="MaxMetadataBytes">Largest manifest, index or config JSON document.</param>
public sealed record ImportLimits(long MaxArchiveBytes, long MaxUnpackedBytes, long MaxEntries, long MaxMetadataBytes)
{
    /// <summary>16 GiB archives, 32 GiB unpacked, a million entries, 4 MiB of JSON per document.</summary>
    public static ImportLimits Default { get; } = new(16L << 30, 32L << 30, 1_000_000, 4L << 20);

    /// <summary>Most layers an image may list (a layer listed twice counts twice); overlayfs stacks at most 128 lowers.</summary>
    public int MaxLayers { get; init; } = 256;
}

/// <summary>What an import found besides the files: the archive's format, run config and the name it carried.</summary>
internal sealed record ImportedImage(string Format, Store.ImageConfig Config, string? SuggestedTag);
