using System.Runtime.Versioning;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using static Moat.Monitor.Interop.Interop;

namespace Moat.Monitor.Identify;

/// <summary>
/// The identity of one executed file as read from an open descriptor. <see cref="LoadsInterpreter"/>: executing it
/// makes the kernel open another file for execution within the same exec (a script's "#!" interpreter, an ELF
/// program's PT_INTERP loader), so the next file the same process opens for execution belongs to this exec.
/// </summary>
internal sealed record FileFingerprint(ulong Device, ulong Inode, bool Unlinked, string Sha256, string? BuildId, bool LoadsInterpreter = false);

/// <summary>
/// Hashes files through open descriptors, caching by (device, inode, size, mtime, ctime): any write changes
/// ctime, which user space cannot set, so a cache hit is the same content.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class FileFingerprinter
{
    private const int MaxCacheEntries = 65_536;
    private readonly Dictionary<(ulong, ulong, long, long, long, long, long), (string Sha256, string? BuildId, bool LoadsInterpreter)> _cache = [];

    public long Hashed { get; private set; }

    public FileFingerprint? TryFingerprint(SafeFileHandle file)
    {
        if (FStat(file, out var st) != 0)
        {
            return null;
        }

        var key = (st.Dev, st.Ino, st.Size, st.MtimeSec, st.MtimeNsec, st.CtimeSec, st.CtimeNsec);
        if (!_cache.TryGetValue(key, out var identity))
        {
            try
            {
                var elf = ElfBuildId.Inspect((offset, destination) => RandomAccess.Read(file, destination, offset));
                identity = (Hash(file), elf.BuildId, elf.Interpreted || IsScript(file));
            }
            catch (IOException)
            {
                return null;
            }

            Hashed++;
            if (_cache.Count >= MaxCacheEntries)
            {
                _cache.Clear();
            }

            _cache[key] = identity;
        }

        return new FileFingerprint(st.Dev, st.Ino, st.Nlink == 0, identity.Sha256, identity.BuildId, identity.LoadsInterpreter);
    }

    private static bool IsScript(SafeFileHandle file)
    {
        Span<byte> magic = stackalloc byte[2];
        return RandomAccess.Read(file, magic, 0) == 2 && magic[0] == (byte)'#' && magic[1] == (byte)'!';
    }

    public FileFingerprint? TryFingerprint(string path)
    {
        try
        {
            using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
            return TryFingerprint(file);
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

    public static (ulong Device, ulong Inode)? TryStat(string path) =>
        StatPath(path, out var st) == 0 ? (st.Dev, st.Ino) : null;

    private static string Hash(SafeFileHandle file)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[128 * 1024];
        long offset = 0;
        while (true)
        {
            int n = RandomAccess.Read(file, buffer, offset);
            if (n <= 0)
            {
                break;
            }

            sha.AppendData(buffer, 0, n);
            offset += n;
        }

        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
