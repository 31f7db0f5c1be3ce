using System.Formats.Tar;
using System.Text;
using Moat.Linux;
using Moat.Linux.Files;

namespace Moat.Host.Sandboxes;

/// <summary>What an extraction wrote, and what it left out on purpose.</summary>
/// <param name="Bytes">Archive bytes read.</param>
/// <param name="Entries">Members taken.</param>
/// <param name="SetIdBitsStripped">Members whose setuid/setgid bits were dropped.</param>
/// <param name="AttributesStripped">Extended attributes (file capabilities, ACLs, security labels) dropped.</param>
internal sealed record StateExtraction(long Bytes, int Entries, int SetIdBitsStripped, int AttributesStripped);

/// <summary>
/// Unpacks a sandbox's state archive, which is hostile input (a peer host, or a tenant of the API or the fabric, wrote
/// it), into a fresh staging folder, so that nothing is created or followed outside that folder:
/// <list type="bullet">
/// <item>names are relative paths under upper/, data/ or checkpoint/ (each a real folder), without "..", "." or empty
/// components;</item>
/// <item>every folder on the way to a member is opened by descriptor without following links, and every member is
/// created exclusively: a symbolic link (legitimate container content, stored as written) is never followed, a name is
/// never taken twice, so a member cannot replace a folder with a link and write through it;</item>
/// <item>hard links point to an earlier member of the same top-level folder;</item>
/// <item>device nodes and FIFOs are refused (a layer must not bring device access to another host), except overlayfs
/// whiteouts (character device 0/0) in upper/; checkpoint/ holds only folders and files;</item>
/// <item>setuid/setgid bits are stripped from files (setgid stays on folders: group inheritance, no privilege), and
/// every extended attribute except the overlay's opaque-folder mark is dropped (file capabilities, ACLs, labels), so a
/// later change of mount options cannot re-arm them;</item>
/// <item>owners are kept as numbers, as the container's files need them;</item>
/// <item>total bytes and member count are bounded.</item>
/// </list>
/// The extraction is done in managed code through <see cref="RootedDirectory"/>, not by `tar`: a validator in front
/// of `tar` would parse the stream twice, and any difference between the two parsers (long names, pax records) would
/// be a way through.
/// </summary>
internal static class StateArchive
{
    public const string Upper = "upper";
    public const string Data = "data";
    public const string Checkpoint = "checkpoint";

    private const string OpaqueAttribute = "trusted.overlay.opaque";
    private const int SetUid = 0x800;
    private const int SetGid = 0x400;
    private const int Sticky = 0x200;
    private const int Permissions = 0x1FF;
    private const int MaxLinkTarget = 4095;

    /// <summary>Unpacks <paramref name="input"/> into <paramref name="staging"/> (an existing, empty folder).</summary>
    /// <param name="what">Names the archive in refusals, e.g. "the state archive for sandbox web".</param>
    /// <exception cref="InvalidRequestException">The archive breaks a rule; one sentence says which member and why.</exception>
    /// <exception cref="MoatHostException">The input failed (the sender went away) or the disk refused a write.</exception>
    public static async Task<StateExtraction> ExtractAsync(Stream input, string staging, StateImportOptions limits, string what, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(limits);
        await using var bounded = new BoundedInput(input, limits.MaxBytes, what);
        using var root = RootedDirectory.Open(staging);
        var run = new Extraction(root, what);
        try
        {
            await using (var reader = new TarReader(bounded, leaveOpen: true))
            {
                while (await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
                {
                    if (entry.EntryType == TarEntryType.GlobalExtendedAttributes)
                    {
                        continue; // Applies to nothing here: the reader does not carry global records over to members.
                    }

                    if (run.Entries == limits.MaxEntries)
                    {
                        throw Refused(what, $"it holds more than {limits.MaxEntries} members, the limit for one import (StateImport.MaxEntries)");
                    }

                    await run.AddAsync(entry, cancellationToken).ConfigureAwait(false);
                }
            }

            // Whatever follows the end-of-archive blocks (a sender's record padding) is read, within the same bound, so
            // the sender is not left waiting.
            await bounded.CopyToAsync(Stream.Null, cancellationToken).ConfigureAwait(false);
            run.Finish();
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException or ArgumentException or OverflowException)
        {
            throw Refused(what, $"it is not a valid tar stream ({bounded.Count} bytes read: {e.Message.TrimEnd('.')})");
        }
        catch (LinuxException e)
        {
            throw new MoatHostException($"unpacking {what} failed after {bounded.Count} bytes: {e.Message}", e);
        }

        return new StateExtraction(bounded.Count, run.Entries, run.SetIdBitsStripped, run.AttributesStripped);
    }

    private static InvalidRequestException Refused(string what, string reason) => new($"{what} is refused: {reason}.");

    /// <summary>The components of a member name, checked; the first is one of the three top-level folders.</summary>
    private static string[] Components(string name, string what, string role)
    {
        var trimmed = name.StartsWith("./", StringComparison.Ordinal) ? name[2..] : name;
        trimmed = trimmed.TrimEnd('/');
        var parts = trimmed.Split('/');
        if (trimmed.Length == 0 || name.StartsWith('/') || name.Contains('\0', StringComparison.Ordinal)
            || parts.Any(p => p is "" or "." or ".." || Encoding.UTF8.GetByteCount(p) > 255)
            || parts[0] is not (Upper or Data or Checkpoint))
        {
            throw Refused(what, $"{role} '{name}' is not a valid name: names must be relative paths under {Upper}/, {Data}/ or {Checkpoint}/ with no '..', '.' or empty parts");
        }

        return parts;
    }

    /// <summary>One extraction's progress: what was created, and the folders whose metadata is set at the end (after
    /// their contents, as tar does, so a read-only folder or its time is applied last).</summary>
    private sealed class Extraction(RootedDirectory root, string what)
    {
        private readonly List<(string[] Path, int Mode, int Uid, int Gid, DateTimeOffset Modified, bool Opaque)> _folders = [];

        public int Entries { get; private set; }

        public int SetIdBitsStripped { get; private set; }

        public int AttributesStripped { get; private set; }

        public async Task AddAsync(TarEntry entry, CancellationToken cancellationToken)
        {
            Entries++;
            var path = Components(entry.Name, what, "member");
            var top = path[0];
            if (path.Length == 1 && entry.EntryType != TarEntryType.Directory)
            {
                throw Refused(what, $"member '{entry.Name}' is a {Describe(entry.EntryType)}, but '{top}' must be a folder");
            }

            if (top == Checkpoint && entry.EntryType is not (TarEntryType.Directory or TarEntryType.RegularFile or TarEntryType.V7RegularFile))
            {
                throw Refused(what, $"member '{entry.Name}' is a {Describe(entry.EntryType)}; {Checkpoint}/ may hold only folders and files");
            }

            var opaque = StripAttributes(entry, top);
            using var parent = OpenParent(path, entry.Name, create: true);
            var name = path[^1];
            var dir = parent ?? root;
            var existing = dir.Stat(name);
            if (entry.EntryType == TarEntryType.Directory)
            {
                if (existing is null)
                {
                    dir.CreateDirectory(name, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                }
                else if (!existing.Value.IsDirectory)
                {
                    throw Taken(entry.Name);
                }

                var mode = (int)entry.Mode;
                SetIdBitsStripped += (mode & SetUid) != 0 ? 1 : 0;
                _folders.Add((path, mode & (Permissions | Sticky | SetGid), entry.Uid, entry.Gid, entry.ModificationTime, opaque));
                return;
            }

            if (existing is not null)
            {
                throw Taken(entry.Name);
            }

            try
            {
                switch (entry.EntryType)
                {
                    case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                        await WriteFileAsync(dir, name, entry, cancellationToken).ConfigureAwait(false);
                        break;
                    case TarEntryType.SymbolicLink:
                        if (entry.LinkName.Length is 0 or > MaxLinkTarget || entry.LinkName.Contains('\0', StringComparison.Ordinal))
                        {
                            throw Refused(what, $"symbolic link '{entry.Name}' has no valid target: give 1 to {MaxLinkTarget} characters");
                        }

                        dir.CreateSymbolicLink(name, entry.LinkName);
                        dir.SetOwner(name, entry.Uid, entry.Gid);
                        dir.SetModificationTime(name, entry.ModificationTime, accessed: entry.ModificationTime);
                        break;
                    case TarEntryType.HardLink:
                        LinkTo(dir, name, entry);
                        break;
                    case TarEntryType.CharacterDevice when top == Upper && entry is PosixTarEntry { DeviceMajor: 0, DeviceMinor: 0 }:
                        dir.CreateWhiteout(name);
                        dir.SetOwner(name, entry.Uid, entry.Gid);
                        break;
                    default:
                        throw Refused(what, $"member '{entry.Name}' is a {Describe(entry.EntryType)}; a state archive may hold only folders, files, symbolic and hard links, and overlay whiteouts (character device 0/0) in {Upper}/");
                }
            }
            catch (LinuxException e) when (e.Errno == 17)
            {
                throw Taken(entry.Name);
            }
        }

        /// <summary>Sets the folders' owners, modes, opaque marks and times, deepest first.</summary>
        public void Finish()
        {
            foreach (var f in _folders.OrderByDescending(f => f.Path.Length))
            {
                using var parent = OpenParent(f.Path, string.Join('/', f.Path), create: false);
                using var dir = (parent ?? root).OpenDirectory(f.Path[^1]);
                dir.SetOwner("", f.Uid, f.Gid);
                dir.SetMode("", (UnixFileMode)f.Mode);
                if (f.Opaque)
                {
                    dir.SetDirectoryAttribute("", OpaqueAttribute, "y"u8);
                }

                dir.SetModificationTime("", f.Modified, accessed: f.Modified);
            }
        }

        private async Task WriteFileAsync(RootedDirectory dir, string name, TarEntry entry, CancellationToken cancellationToken)
        {
            await using (var file = new FileStream(dir.CreateFile(name, UnixFileMode.UserRead | UnixFileMode.UserWrite), FileAccess.Write, bufferSize: 0))
            {
                if (entry.DataStream is { } data)
                {
                    await data.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
                }
            }

            var mode = (int)entry.Mode;
            SetIdBitsStripped += (mode & (SetUid | SetGid)) != 0 ? 1 : 0;
            dir.SetOwner(name, entry.Uid, entry.Gid);
            dir.SetMode(name, (UnixFileMode)(mode & Permissions)); // after chown, which would clear set-id bits anyway
            dir.SetModificationTime(name, entry.ModificationTime, accessed: entry.ModificationTime);
        }

        private void LinkTo(RootedDirectory dir, string name, TarEntry entry)
        {
            var target = Components(entry.LinkName, what, $"the target of hard link '{entry.Name}',");
            var path = Components(entry.Name, what, "member");
            if (target[0] != path[0])
            {
                throw Refused(what, $"hard link '{entry.Name}' points to '{entry.LinkName}', outside its own folder {path[0]}/");
            }

            using var targetParent = OpenParent(target, entry.LinkName, create: false, linkOf: entry.Name);
            var from = targetParent ?? root;
            if (from.Stat(target[^1]) is not { IsDirectory: false })
            {
                throw Refused(what, $"hard link '{entry.Name}' points to '{entry.LinkName}', which is not an earlier file of the archive");
            }

            dir.CreateHardLink(from, target[^1], name);
        }

        /// <summary>Opens the folder that holds the last component of <paramref name="path"/> (null: the staging root),
        /// one component at a time without following links; missing folders are made when <paramref name="create"/>.</summary>
        private RootedDirectory? OpenParent(string[] path, string name, bool create, string? linkOf = null)
        {
            if (path.Length == 1)
            {
                return null;
            }

            var current = root;
            RootedDirectory? owned = null;
            try
            {
                for (var i = 0; i < path.Length - 1; i++)
                {
                    RootedDirectory next;
                    try
                    {
                        if (create && current.Stat(path[i]) is null)
                        {
                            current.CreateDirectory(path[i], UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                        }

                        next = current.OpenDirectory(path[i]);
                    }
                    catch (LinuxException e) when (e.Errno is 2 or 20 or 40)
                    {
                        var through = string.Join('/', path[..(i + 1)]);
                        throw Refused(what, linkOf is null
                            ? $"member '{name}' goes through '{through}', which is a symbolic link or not a folder; members may not be written through links"
                            : $"hard link '{linkOf}' points to '{name}', which is not an earlier file of the archive");
                    }

                    owned?.Dispose();
                    owned = next;
                    current = next;
                }

                var result = owned;
                owned = null;
                return result;
            }
            finally
            {
                owned?.Dispose();
            }
        }

        /// <summary>Drops every extended attribute but the overlay's opaque mark on a folder of upper/; says whether the
        /// mark is set.</summary>
        private bool StripAttributes(TarEntry entry, string top)
        {
            if (entry is not PaxTarEntry pax)
            {
                return false;
            }

            var opaque = false;
            foreach (var (key, value) in pax.ExtendedAttributes)
            {
                if (!key.Contains(".xattr.", StringComparison.Ordinal) && !key.StartsWith("SCHILY.acl.", StringComparison.Ordinal))
                {
                    continue;
                }

                if (key == "SCHILY.xattr." + OpaqueAttribute && value == "y" && top == Upper && entry.EntryType == TarEntryType.Directory)
                {
                    opaque = true;
                }
                else
                {
                    AttributesStripped++;
                }
            }

            return opaque;
        }

        private InvalidRequestException Taken(string name) =>
            Refused(what, $"member '{name}' names something the archive already holds; each name may appear once (a folder may be repeated)");
    }

    private static string Describe(TarEntryType type) => type switch
    {
        TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile => "file",
        TarEntryType.Directory => "folder",
        TarEntryType.SymbolicLink => "symbolic link",
        TarEntryType.HardLink => "hard link",
        TarEntryType.CharacterDevice => "character device",
        TarEntryType.BlockDevice => "block device",
        TarEntryType.Fifo => "FIFO",
        _ => $"member of tar type '{(char)type}'",
    };

    /// <summary>The archive as read from the sender: counted, bounded, and a failure of the sender told apart from a
    /// fault of the archive.</summary>
    private sealed class BoundedInput(Stream inner, long limit, string what) : Stream
    {
        public long Count { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => Count; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int n;
            try
            {
                n = inner.Read(buffer[..Room(buffer.Length)]);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
            {
                throw Broken(e);
            }

            return Counted(n);
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            int n;
            try
            {
                n = await inner.ReadAsync(buffer[..Room(buffer.Length)], cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
            {
                throw Broken(e);
            }

            return Counted(n);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        // One byte past the limit is asked for, so that an archive of exactly the limit passes and a larger one is seen.
        private int Room(int wanted) => (int)Math.Min(wanted, Math.Max(1, limit + 1 - Count));

        private int Counted(int n)
        {
            Count += n;
            return Count > limit
                ? throw Refused(what, $"it is larger than {limit} bytes, the limit for one import (StateImport.MaxBytes)")
                : n;
        }

        private MoatHostException Broken(Exception e) =>
            new($"receiving sandbox state failed after {Count} bytes: {e.Message}", e);
    }
}
