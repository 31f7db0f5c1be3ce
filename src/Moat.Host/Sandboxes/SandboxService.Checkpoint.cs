using Microsoft.Extensions.Logging;
using Moat.Host.Runtime;

namespace Moat.Host.Sandboxes;

/// <summary>Live checkpoints: a running sandbox's whole state saved to its folder, and restored on its next start.</summary>
public sealed partial class SandboxService
{
    /// <summary>Folder of a sandbox's saved state (runsc's checkpoint image) while it waits to be restored.</summary>
    internal string CheckpointDir(Sandbox s) => Path.Combine(SandboxDir(s), "checkpoint");

    private byte[]? _checkpointKey;

    /// <summary>Bounds and trust for state arriving from other hosts.</summary>
    internal StateImportOptions StateImport => _options.StateImport;

    /// <summary>The key this host seals its checkpoints with, and that imported checkpoints must be sealed with.</summary>
    internal byte[] CheckpointKey => _checkpointKey ??= CheckpointSeal.LoadKey(
        _options.StateImport.CheckpointKeyFile, Path.Combine(_options.StateDir, "keys", "checkpoint.key"));

    /// <summary>Whether the sandbox holds a saved state that its next start restores.</summary>
    internal bool HasCheckpoint(Sandbox s) => File.Exists(Path.Combine(CheckpointDir(s), "checkpoint.img"));

    /// <summary>What this host can checkpoint: the container tier through CRIU (`criu check`), the gVisor tier through
    /// runsc's own checkpoint and restore.</summary>
    public async Task<CheckpointSupport> CheckpointSupportAsync(CancellationToken cancellationToken = default)
    {
        var criu = await CheckpointProbe.GetAsync(cancellationToken).ConfigureAwait(false);
        var gvisor = _runtimes.Available.TryGetValue(RuntimeTier.Gvisor, out var r) && r is ICheckpointingRuntime
            ? (true, $"{r.Name} checkpoint/restore")
            : (false, _runtimes.Status.FirstOrDefault(t => t.Tier == RuntimeTier.Gvisor)?.Detail ?? "the gvisor tier is not available on this host");
        return criu with { GvisorAvailable = gvisor.Item1, GvisorReason = gvisor.Item2 };
    }

    /// <summary>
    /// Saves a running sandbox's whole state (its processes' memory, its kernel's state) into its folder and stops it; its
    /// next start, here or on another host after its state was moved there, restores it instead of booting. Only the
    /// gvisor tier can (runsc does it itself); a container-tier sandbox needs CRIU, which this host does not drive.
    /// </summary>
    /// <exception cref="InvalidRequestException">The sandbox is not running, or not on a tier that checkpoints.</exception>
    /// <exception cref="MoatHostException">The runtime failed; the sandbox is left running if it still runs, else stopped.</exception>
    public async Task<Sandbox> CheckpointAsync(string reference, CancellationToken cancellationToken = default)
    {
        var s = Get(reference);
        using var _ = await LockAsync(s.Id, cancellationToken).ConfigureAwait(false);
        s = RequireState(_store.Get(s.Id)!, SandboxState.Running, "checkpoint");
        if (RuntimeOf(s) is not ICheckpointingRuntime runtime)
        {
            throw new InvalidRequestException(
                $"sandbox {s.DisplayName} runs on the {s.Tier.ToString().ToLowerInvariant()} tier, which cannot checkpoint here (only the gvisor tier can); stop it instead.");
        }

        var key = CheckpointKey; // a key problem is reported before the sandbox is touched
        var dir = CheckpointDir(s);
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }

        try
        {
            await runtime.CheckpointAsync(s.Id, dir, cancellationToken).ConfigureAwait(false);
            CheckpointSeal.Seal(dir, s.ImageDigest, key);
        }
        catch
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }

            if (await RuntimeOf(s).StateAsync(s.Id, CancellationToken.None).ConfigureAwait(false) is not { Status: "running" or "paused" })
            {
                await RuntimeOf(s).DeleteAsync(s.Id, CancellationToken.None).ConfigureAwait(false);
                _store.Update(s with { State = SandboxState.Stopped });
            }

            throw;
        }

        await RuntimeOf(s).DeleteAsync(s.Id, cancellationToken).ConfigureAwait(false);
        s = s with { State = SandboxState.Stopped };
        _store.Update(s);
        LogCheckpointed(_log, s.Id, new FileInfo(Path.Combine(dir, "checkpoint.img")).Length);
        return s;
    }

    /// <summary>Starts the sandbox's container: restored from its checkpoint when it holds one (the checkpoint is then
    /// consumed), booted from its command otherwise. A restore that fails boots it instead, and says so.</summary>
    /// <returns>Whether the sandbox was restored.</returns>
    private async Task<bool> RunOrRestoreAsync(Sandbox s, CancellationToken cancellationToken)
    {
        var dir = CheckpointDir(s);
        if (HasCheckpoint(s) && RuntimeOf(s) is ICheckpointingRuntime runtime)
        {
            try
            {
                await runtime.RestoreDetachedAsync(s.Id, BundleDir(s), dir, ConsoleLog(s), cancellationToken).ConfigureAwait(false);
                Directory.Delete(dir, recursive: true);
                return true;
            }
            catch (MoatHostException e)
            {
                LogRestoreFailed(_log, s.Id, e.Message);
                await RuntimeOf(s).DeleteAsync(s.Id, CancellationToken.None).ConfigureAwait(false);
            }
        }

        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }

        await RuntimeOf(s).RunDetachedAsync(s.Id, BundleDir(s), ConsoleLog(s), cancellationToken).ConfigureAwait(false);
        return false;
    }

    [LoggerMessage(EventId = 130, Level = LogLevel.Information, Message = "Checkpointed sandbox {Id} ({Bytes} bytes of state)")]
    private static partial void LogCheckpointed(ILogger logger, string id, long bytes);

    [LoggerMessage(EventId = 131, Level = LogLevel.Warning, Message = "Restoring sandbox {Id} from its checkpoint failed, booting it instead: {Reason}")]
    private static partial void LogRestoreFailed(ILogger logger, string id, string reason);
}
