using System.Diagnostics;
using System.ComponentModel;
using Microsoft.Extensions.Logging;
using Moat.Host.Rootfs;

namespace Moat.Host.Sandboxes;

/// <summary>What a destination host needs to make an empty copy of a sandbox before the sandbox's state arrives.</summary>
/// <param name="Spec">The source's spec (name, image reference, limits, command, client, volume).</param>
/// <param name="ImageDigest">The image the source runs on; the destination must resolve the reference to the same digest.</param>
/// <param name="Tier">The source's runtime tier; the copy keeps it.</param>
/// <param name="SourceId">The sandbox's id on the source host, for logs.</param>
public sealed record SandboxManifest(SandboxSpec Spec, string ImageDigest, RuntimeTier Tier, string SourceId);

/// <summary>The outcome of loading a moved sandbox's writable state on its new host.</summary>
/// <param name="Sandbox">The sandbox as it now is (running when the import started it).</param>
/// <param name="Bytes">Archive bytes received.</param>
/// <param name="ElapsedMs">Time from the first byte read to the sandbox being ready (started or not).</param>
/// <param name="Restored">The state held a checkpoint and the sandbox was restored from it (its processes went on where
/// they stopped), rather than booted.</param>
/// <param name="CheckpointDiscarded">The state held a checkpoint that this host would not restore, and why; the
/// sandbox was booted instead.</param>
public sealed record ImportResult(Sandbox Sandbox, long Bytes, double ElapsedMs, bool Restored = false, string? CheckpointDiscarded = null);

/// <summary>
/// Moves a sandbox's writable state between hosts as one tar stream: the overlay's upper layer (with overlayfs'
/// whiteouts and opaque-directory xattrs), the /data volume, and its checkpoint when it was checkpointed (live). The source exports a stopped sandbox; the destination
/// first reserves a stopped copy made from the same image (address, namespace, cgroup, bundle), then replaces that
/// copy's empty layer and volume with the stream and starts it. Nothing here assumes both hosts share a disk.
/// </summary>
/// <remarks>The source writes the archive with GNU tar (pax format: whiteouts, the overlay's xattrs, hard links, numeric
/// owners). The destination treats it as hostile and unpacks it with <see cref="StateArchive"/>, never with tar; a
/// checkpoint in it is restored only when sealed with this host's checkpoint key (<see cref="CheckpointSeal"/>).</remarks>
internal sealed partial class SandboxTransfer(SandboxService sandboxes, ILogger logger)
{
    public const string ContentType = "application/x-tar";
    private const string UpperMember = StateArchive.Upper;
    private const string DataMember = StateArchive.Data;
    private const string CheckpointMember = StateArchive.Checkpoint;

    /// <summary>Makes a stopped copy of a sandbox described by <paramref name="manifest"/>; fails before anything runs if
    /// this host cannot hold it (address pool, memory) or resolves the image to a different digest.</summary>
    public async Task<Sandbox> ReserveAsync(SandboxManifest manifest, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        Validate(manifest);
        var created = await sandboxes.CreateAsync(manifest.Spec with { Tier = manifest.Tier }, start: false, cancellationToken).ConfigureAwait(false);
        if (!string.Equals(created.ImageDigest, manifest.ImageDigest, StringComparison.Ordinal))
        {
            await sandboxes.DestroyAsync(created.Id, CancellationToken.None).ConfigureAwait(false);
            throw new InvalidRequestException(
                $"image '{manifest.Spec.Image}' is {created.ImageDigest} on this host but {manifest.ImageDigest} on the source; give both hosts the same image before moving the sandbox.");
        }

        LogReserved(logger, created.Id, manifest.SourceId);
        return created;
    }

    /// <summary>
    /// Refuses a manifest that a source would never send (it comes off the network): every field present and of a
    /// sane size, before anything is created.
    /// </summary>
    /// <exception cref="InvalidRequestException">One sentence naming the field and what would be valid.</exception>
    internal static void Validate(SandboxManifest manifest)
    {
        // Deserialized JSON leaves absent members null whatever their declared nullability.
        if (manifest.Spec is null)
        {
            throw new InvalidRequestException("the manifest has no 'spec': give the source sandbox's spec (image, memory, …) as its host reported it.");
        }

        if (manifest.ImageDigest is not { Length: 64 } digest || !digest.All(char.IsAsciiHexDigitLower))
        {
            throw new InvalidRequestException("the manifest's 'imageDigest' is not an image digest: give the 64 lowercase hex digits of the image's sha256, as 'moat image ls' shows it.");
        }

        if (string.IsNullOrWhiteSpace(manifest.SourceId) || manifest.SourceId.Length > 128 || manifest.SourceId.Any(char.IsControl))
        {
            throw new InvalidRequestException("the manifest's 'sourceId' is not a sandbox id: give the source sandbox's id, 1 to 128 printable characters.");
        }

        if (!Enum.IsDefined(manifest.Tier))
        {
            throw new InvalidRequestException($"the manifest's 'tier' {(int)manifest.Tier} is not a runtime tier: give container, gvisor or vm.");
        }
    }

    /// <summary>Checks that a sandbox can be exported now (it must be stopped, so its layer and volume are quiet).</summary>
    public Sandbox PrepareExport(string reference)
    {
        var s = sandboxes.Get(reference);
        if (s.State is not (SandboxState.Stopped or SandboxState.Created))
        {
            throw new InvalidRequestException(
                $"sandbox {s.DisplayName} is {s.State.ToString().ToLowerInvariant()}; stop it before exporting its state, so that its files are not written while they are copied.");
        }

        return s;
    }

    /// <summary>Writes the sandbox's upper layer and volume to <paramref name="output"/> as a tar stream.</summary>
    /// <exception cref="MoatHostException">tar failed; the stream written so far is incomplete and must be discarded.</exception>
    public async Task ExportAsync(Sandbox s, Stream output, CancellationToken cancellationToken)
    {
        // Pax, not GNU sparse records, and of the overlay's xattrs only the opaque mark: the importer takes only plain
        // members and that one attribute (the others, e.g. trusted.overlay.origin, are binary file handles of this host).
        var args = new List<string> { "--create", "--file=-", "--format=posix", "--numeric-owner", "--xattrs", "--xattrs-include=trusted.overlay.opaque", "-C", sandboxes.SandboxDir(s), UpperMember };
        if (s.Spec.Volume && Directory.Exists(sandboxes.VolumeDir(s)))
        {
            // In the archive the volume folder is "data", whatever its name here. S: symlink targets stay as written.
            var volume = sandboxes.VolumeDir(s);
            args.AddRange(["-C", Path.GetDirectoryName(volume)!, $"--transform=s,^{Path.GetFileName(volume)},{DataMember},S", Path.GetFileName(volume)]);
        }

        if (sandboxes.HasCheckpoint(s))
        {
            args.AddRange(["-C", sandboxes.SandboxDir(s), CheckpointMember]);
        }

        using var tar = StartTar(args, redirectInput: false);
        var stderr = tar.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            await tar.StandardOutput.BaseStream.CopyToAsync(output, cancellationToken).ConfigureAwait(false);
            await tar.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            Kill(tar);
            throw;
        }

        if (tar.ExitCode != 0)
        {
            throw new MoatHostException($"exporting sandbox {s.DisplayName} failed: tar exited {tar.ExitCode}: {(await stderr.ConfigureAwait(false)).Trim()}");
        }

        LogExported(logger, s.Id);
    }

    /// <summary>
    /// Replaces the reserved copy's layer and volume with the archive read from <paramref name="input"/> and, when
    /// <paramref name="start"/>, starts it. A failure leaves the copy stopped with its files unchanged (the caller
    /// destroys the reservation); nothing of the archive stays on disk.
    /// </summary>
    public async Task<ImportResult> ImportAsync(string reference, Stream input, bool start, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        var s = sandboxes.Get(reference);
        if (s.State is not (SandboxState.Created or SandboxState.Stopped))
        {
            throw new InvalidRequestException(
                $"sandbox {s.DisplayName} is {s.State.ToString().ToLowerInvariant()}; state can only be loaded into a reserved (created or stopped) sandbox.");
        }

        var sw = Stopwatch.StartNew();
        var dir = sandboxes.SandboxDir(s);
        var staging = Path.Combine(dir, "import");
        if (Directory.Exists(staging))
        {
            Directory.Delete(staging, recursive: true);
        }

        Directory.CreateDirectory(staging);
        StateExtraction extracted;
        string? discarded = null;
        try
        {
            extracted = await StateArchive.ExtractAsync(input, staging, sandboxes.StateImport, $"the state archive for sandbox {s.DisplayName}", cancellationToken).ConfigureAwait(false);
            if (!Directory.Exists(Path.Combine(staging, UpperMember)))
            {
                throw new InvalidRequestException(
                    $"the state archive for sandbox {s.DisplayName} is refused: it holds no '{UpperMember}' folder; a state archive holds '{UpperMember}', and may hold '{DataMember}' and '{CheckpointMember}'.");
            }

            var checkpoint = Path.Combine(staging, CheckpointMember);
            if (Directory.Exists(checkpoint) && sandboxes.RuntimeOf(s) is not Runtime.ICheckpointingRuntime)
            {
                throw new InvalidRequestException(
                    $"the state for sandbox {s.DisplayName} holds a checkpoint, but its {s.Tier.ToString().ToLowerInvariant()} tier cannot restore one on this host.");
            }

            if (Directory.Exists(checkpoint) && CheckpointSeal.Verify(checkpoint, s.ImageDigest, sandboxes.CheckpointKey) is { } why)
            {
                // Executable state from a host this one does not share a checkpoint key with: boot afresh instead.
                discarded = $"the checkpoint was discarded because {why}; hosts that move sandboxes live between them need the same checkpoint key file";
                LogCheckpointDiscarded(logger, s.Id, discarded);
                Directory.Delete(checkpoint, recursive: true);
            }

            // The overlay must not be mounted while its upper folder is swapped; StartAsync mounts it again.
            await OverlayRootfs.UnmountAsync(sandboxes.RootfsDir(s), cancellationToken).ConfigureAwait(false);
            var upper = Path.Combine(dir, UpperMember);
            var work = Path.Combine(dir, "work");
            ReplaceDirectory(Path.Combine(staging, UpperMember), upper);
            if (Directory.Exists(work))
            {
                Directory.Delete(work, recursive: true);
            }

            if (s.Spec.Volume)
            {
                var data = Path.Combine(staging, DataMember);
                if (Directory.Exists(data))
                {
                    ReplaceDirectory(data, sandboxes.VolumeDir(s));
                }
            }

            // A checkpoint left from before belongs to other files: it goes, whether or not one came with the state.
            if (Directory.Exists(sandboxes.CheckpointDir(s)))
            {
                Directory.Delete(sandboxes.CheckpointDir(s), recursive: true);
            }

            if (Directory.Exists(checkpoint))
            {
                ReplaceDirectory(checkpoint, sandboxes.CheckpointDir(s));
            }
        }
        finally
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
        }

        var restored = false;
        if (start)
        {
            (s, restored) = await sandboxes.StartOrRestoreAsync(s.Id, cancellationToken).ConfigureAwait(false);
        }

        LogImported(logger, s.Id, extracted.Bytes, extracted.SetIdBitsStripped, extracted.AttributesStripped);
        return new ImportResult(s, extracted.Bytes, sw.Elapsed.TotalMilliseconds, restored, discarded);
    }

    private static void ReplaceDirectory(string from, string to)
    {
        if (Directory.Exists(to))
        {
            Directory.Delete(to, recursive: true);
        }

        Directory.Move(from, to);
    }

    private static Process StartTar(IReadOnlyList<string> args, bool redirectInput)
    {
        var psi = new ProcessStartInfo("tar")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = redirectInput,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        try
        {
            return Process.Start(psi) ?? throw new MoatHostException("tar did not start.");
        }
        catch (Win32Exception e)
        {
            throw new ToolMissingException("tar", e);
        }
    }

    private static void Kill(Process p)
    {
        try
        {
            p.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // It had already exited.
        }
    }

    [LoggerMessage(EventId = 140, Level = LogLevel.Information, Message = "Reserved sandbox {Id} for the state of {SourceId}")]
    private static partial void LogReserved(ILogger logger, string id, string sourceId);

    [LoggerMessage(EventId = 141, Level = LogLevel.Information, Message = "Exported the state of sandbox {Id}")]
    private static partial void LogExported(ILogger logger, string id);

    [LoggerMessage(EventId = 142, Level = LogLevel.Information, Message = "Imported {Bytes} bytes of state into sandbox {Id} ({SetId} setuid/setgid files and {Attributes} extended attributes stripped)")]
    private static partial void LogImported(ILogger logger, string id, long bytes, int setId, int attributes);

    [LoggerMessage(EventId = 143, Level = LogLevel.Warning, Message = "Sandbox {Id} boots afresh: {Reason}")]
    private static partial void LogCheckpointDiscarded(ILogger logger, string id, string reason);
}
