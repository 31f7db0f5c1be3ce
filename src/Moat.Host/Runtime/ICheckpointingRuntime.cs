namespace Moat.Host.Runtime;

/// <summary>
/// A runtime that can save a running container's whole state (processes, memory, its kernel's state) to a folder and
/// start a container from such a folder: gVisor's runsc does it itself, with no CRIU. Live relocation uses it.
/// </summary>
public interface ICheckpointingRuntime
{
    /// <summary>Writes the container's state into <paramref name="imageDir"/>; the container is stopped when it returns.</summary>
    Task CheckpointAsync(string id, string imageDir, CancellationToken cancellationToken = default);

    /// <summary>Starts container <paramref name="id"/> from <paramref name="bundle"/> with the state saved in
    /// <paramref name="imageDir"/> instead of booting its command; the network is taken from the container's own
    /// namespace, so a restored sandbox has the address it is given here, not the one it was saved with.</summary>
    Task RestoreDetachedAsync(string id, string bundle, string imageDir, string consoleLog, CancellationToken cancellationToken = default);
}
