using System.Text;
using Moat.Monitor.Identify;

namespace Moat.Monitor;

public sealed partial class ExecMonitor
{
    private const string DeletedSuffix = " (deleted)";

    private void OnExec(int pid, bool superseded)
    {
        _pendingExecFiles.TryGetValue(pid, out var pending);
        var first = pending?.Peek() ?? [];
        bool known = _sandboxOfPid.TryGetValue(pid, out string? sandboxId);
        sandboxId ??= _options.SandboxOfPid(pid);
        bool byDevice = false;
        if (sandboxId is null && first.Count > 0 && _sandboxOfDevice.TryGetValue(first[0].Print.Device, out string? owner))
        {
            // Gone before its cgroup could be read (a busy host delays this loop), but the file it executed lives on
            // that sandbox's own file system: a sandbox's exec is never mistaken for a host process's and dropped.
            sandboxId = owner;
            byDevice = true;
        }

        if (sandboxId is null)
        {
            _pendingExecFiles.Remove(pid);
            return; // a host process
        }

        // /proc shows the process's latest exec: when it names none of this exec's files, the process has exec'd again
        // since, and this exec is described from the files it opened, never from the later one's /proc.
        var snapshot = superseded ? null : ProcessSnapshot.TryRead(pid);
        IReadOnlyList<(FileFingerprint Print, string? Path)>? captured = null;
        bool movedOn = superseded;
        if (pending is not null)
        {
            (captured, bool described) = pending.Take(snapshot is null ? null : (snapshot.ExeDevice, snapshot.ExeInode));
            if (snapshot is not null && !described)
            {
                snapshot = null;
                movedOn = true;
            }

            if (pending.Count == 0)
            {
                _pendingExecFiles.Remove(pid);
            }
        }

        _sandboxOfPid[pid] = sandboxId;
        if (!byDevice && captured is not null)
        {
            foreach (var (print, _) in captured)
            {
                _sandboxOfDevice[print.Device] = sandboxId; // a cgroup's word is newer than a device number reused since
            }
        }

        bool lost = _fanotifyLostSinceLastExec;
        _fanotifyLostSinceLastExec = false;
        var record = Identify(pid, sandboxId, captured is { Count: > 0 } ? captured : null, snapshot, lost, movedOn) with { EnteredFromHost = !known };
        if (byDevice)
        {
            record = record with { VerificationDetail = record.VerificationDetail + "; the sandbox is the one whose file system holds the executed file (the process's cgroup was gone)" };
        }

        Counters.Records++;
        Publish(record);
    }

    private ExecRecord Identify(int pid, string sandboxId, IReadOnlyList<(FileFingerprint Print, string? Path)>? captured, ProcessSnapshot? snapshot, bool fanotifyLost, bool movedOn)
    {
        _sandboxes.TryGetValue(sandboxId, out var sandbox);
        var info = _options.SandboxInfo(sandboxId);
        string? path;
        FileFingerprint? print = null;
        VerificationStatus status;
        string? detail = null;

        if (snapshot is not null)
        {
            bool deleted = snapshot.ExeLink.EndsWith(DeletedSuffix, StringComparison.Ordinal);
            path = InsidePath(sandbox, deleted ? snapshot.ExeLink[..^DeletedSuffix.Length] : snapshot.ExeLink);
            var match = captured?.FirstOrDefault(c => c.Print.Device == snapshot.ExeDevice && c.Print.Inode == snapshot.ExeInode);
            if (path == "/" || !path.StartsWith('/'))
            {
                // The file lives on a mount the host cannot name (e.g. the OCI runtime's own sealed copy of itself).
                print = match?.Print ?? _fingerprinter.TryFingerprint($"/proc/{pid}/exe");
                status = VerificationStatus.AnonymousExecution;
                detail = match is null
                    ? $"the executable's path cannot be named from the host (kernel reports '{snapshot.ExeLink}'); the hash was read through /proc/{pid}/exe"
                    : $"the executable's path cannot be named from the host (kernel reports '{snapshot.ExeLink}'); the hash is of the executed content";
                path = null;
            }
            else if (path.StartsWith("/memfd:", StringComparison.Ordinal))
            {
                print = _fingerprinter.TryFingerprint($"/proc/{pid}/exe");
                status = VerificationStatus.AnonymousExecution;
                detail = $"executable is the anonymous file '{path}'; the hash was read through /proc/{pid}/exe";
            }
            else if (match?.Print is { } exact)
            {
                print = exact;
                var now = FileFingerprinter.TryStat($"/proc/{pid}/root{path}");
                if (now is { } current && (current.Device != exact.Device || current.Inode != exact.Inode))
                {
                    status = VerificationStatus.FileReplaced;
                    detail = $"{path} now holds a different file than the one executed; the hash is of the executed content";
                }
                else if (deleted || exact.Unlinked)
                {
                    status = VerificationStatus.FileDeleted;
                    detail = $"{path} was deleted after it was executed; the hash is of the executed content";
                }
                else if (now is null)
                {
                    // Not unlinked, yet unreachable through /proc/PID/root: the process is exiting and its root is gone.
                    status = VerificationStatus.ProcessGone;
                    detail = "process exited while /proc was being read; the hash is of the file it opened for this execution";
                }
                else
                {
                    status = VerificationStatus.Verified;
                }
            }
            else
            {
                print = _fingerprinter.TryFingerprint($"/proc/{pid}/exe");
                status = fanotifyLost ? VerificationStatus.EventsLost : VerificationStatus.NotSeenByFanotify;
                detail = fanotifyLost
                    ? "fanotify lost events, so the exec descriptor was not captured; the hash was read through /proc/PID/exe"
                    : "the file is outside the sandbox's watched file system; the hash was read through /proc/PID/exe";
            }
        }
        else if (captured is { Count: > 0 })
        {
            // Without /proc the opened files cannot be tied to the final executable (a script opens its
            // interpreter too); the first one opened is the file named in execve, reported as exactly that.
            print = captured[0].Print;
            path = captured[0].Path is { } p ? InsidePath(sandbox, p.EndsWith(DeletedSuffix, StringComparison.Ordinal) ? p[..^DeletedSuffix.Length] : p) : null;
            status = VerificationStatus.ProcessGone;
            string why = movedOn ? "process exec'd again before /proc could be read" : "process exited before /proc could be read";
            detail = captured.Count == 1
                ? $"{why}; the hash is of the file it opened for this execution"
                : $"{why}; the hash is of the first of {captured.Count} files it opened for execution";
        }
        else
        {
            path = null;
            status = fanotifyLost ? VerificationStatus.EventsLost : VerificationStatus.ProcessGone;
            detail = fanotifyLost
                ? "fanotify lost events and the process was gone from /proc: nothing about the file is known"
                : "the process was gone from /proc and no executed file was captured: nothing about the file is known";
        }

        var argv = snapshot?.Argv ?? [];
        var target = snapshot is null ? null : InterpreterDetector.Detect(path, argv, snapshot.Cwd is null ? null : InsidePath(sandbox, snapshot.Cwd));
        var owner = path is null || sandbox is null ? null : sandbox.Packages.Owner(path);
        var (drift, driftReason) = Drift(sandbox, path, print);
        return new ExecRecord(
            _time.GetUtcNow(), sandboxId, info?.ClientId, info?.Kind, pid, _parentOfPid.GetValueOrDefault(pid),
            path, argv, print?.Sha256, print?.BuildId,
            owner?.Ecosystem, owner?.Name, owner?.Version,
            target?.Interpreter, target?.Script, target?.Inline ?? false,
            drift, driftReason, status, detail);
    }

    private (bool? Drift, string? Reason) Drift(WatchedSandbox? sandbox, string? path, FileFingerprint? print)
    {
        if (sandbox?.Image is null || path is null || print is null)
        {
            return (null, null);
        }

        // The image is read-only, so what it holds at a path is looked up once per sandbox.
        return sandbox.Image.Sha256(path) switch
        {
            null => (true, $"{path} is not in the sandbox's image"),
            "" => (null, null),
            { } imageSha when imageSha == print.Sha256 => (false, null),
            { } imageSha => (true, $"{path} differs from the image's copy (sha256 {imageSha})"),
        };
    }

    /// <summary>Turns a host-side path under the sandbox root into the path the sandbox sees.</summary>
    private static string InsidePath(WatchedSandbox? sandbox, string path)
    {
        if (sandbox is not null && path.StartsWith(sandbox.RootPath + "/", StringComparison.Ordinal))
        {
            return path[sandbox.RootPath.Length..];
        }

        return path;
    }

    private static string? ReadLink(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>What /proc says about a live process at the moment it is read.</summary>
    private sealed record ProcessSnapshot(string ExeLink, ulong ExeDevice, ulong ExeInode, IReadOnlyList<string> Argv, string? Cwd)
    {
        public static ProcessSnapshot? TryRead(int pid)
        {
            string? exe = ReadLink($"/proc/{pid}/exe");
            var stat = FileFingerprinter.TryStat($"/proc/{pid}/exe");
            if (exe is null || stat is null)
            {
                return null;
            }

            string[] argv;
            try
            {
                byte[] raw = File.ReadAllBytes($"/proc/{pid}/cmdline");
                argv = Encoding.UTF8.GetString(raw).TrimEnd('\0').Split('\0');
            }
            catch (IOException)
            {
                return null;
            }

            return new ProcessSnapshot(exe, stat.Value.Device, stat.Value.Inode, argv, ReadLink($"/proc/{pid}/cwd"));
        }
    }
}
