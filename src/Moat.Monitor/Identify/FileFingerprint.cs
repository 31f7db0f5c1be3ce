using System.Runtime.Versioning;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;
using static Moat.Monitor.Interop.Interop;

namespace Moat.Monitor.Identify;

/// <summary>The identity of one executed file as read from an open descriptor.</summary>
internal sealed record FileFingerprint(ulong Device, ulong Inode, bool Unlinked, string Sha256, string? BuildId);

/// <summary>
/// Hashes files through open descriptors, caching by (device, inode, size, mtime, ctime): any write changes
/// ctime, which user space cannot set, so a cache hit is the same content.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class FileFingerprinter
{
    private const int MaxCacheEntries = 65_536;
    private readonly Dictionary<(ulong, ulong, long, long, long, long, long), (string Sha256, string? BuildId)> _cache = [];

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
                identity = (Hash(file), ElfBuildId.TryRead((offset, destination) => RandomAccess.Read(file, destination, offset)));
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

        return new FileFingerprint(st.Dev, st.Ino, st.Nlink == 0, identity.Sha256, identity.BuildId);
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
