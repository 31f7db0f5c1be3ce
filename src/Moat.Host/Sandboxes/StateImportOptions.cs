namespace Moat.Host.Sandboxes;

/// <summary>Bounds and trust for a sandbox's state arriving from another host (relocation, `PUT …/state`, the fabric's
/// import): the archive is hostile input until it has been checked.</summary>
public sealed record StateImportOptions
{
    public static readonly StateImportOptions Default = new();

    /// <summary>Most archive bytes one import reads (headers included); more is refused before anything is replaced.</summary>
    public long MaxBytes { get; init; } = 32L << 30;

    /// <summary>Most archive members one import takes (files, folders, links).</summary>
    public int MaxEntries { get; init; } = 1_000_000;

    /// <summary>
    /// The key that seals gVisor checkpoints this host makes and that a checkpoint arriving from elsewhere must be sealed
    /// with to be restored (a checkpoint is executable state). Hosts that may move sandboxes live between them share one
    /// key file; null: a key of this host's own in the state folder (keys/checkpoint.key), so only this host's own
    /// checkpoints restore and anything else boots afresh.
    /// </summary>
    public string? CheckpointKeyFile { get; init; }

    /// <summary>Refuses bounds that cannot work, in one sentence.</summary>
    public void Validate()
    {
        if (MaxBytes <= 0)
        {
            throw new InvalidRequestException($"state import limit of {MaxBytes} bytes is not valid: give a positive size.");
        }

        if (MaxEntries <= 0)
        {
            throw new InvalidRequestException($"state import limit of {MaxEntries} entries is not valid: give a positive count.");
        }

        if (CheckpointKeyFile is not null && !Path.IsPathFullyQualified(CheckpointKeyFile))
        {
            throw new InvalidRequestException($"checkpoint key file '{CheckpointKeyFile}' must be an absolute path.");
        }
    }
}
