using System.Runtime.Versioning;
using Moat.Linux;
using Moat.Linux.Files;

namespace Moat.Monitor.Identify;

/// <summary>
/// What a sandbox's read-only image holds at a path the sandbox executed, remembered per path. The path comes from the
/// sandbox and the image from whoever built it, so the path is resolved inside the image as its own processes would
/// (an absolute symlink or ".." stays in it) and only a regular file is opened and hashed.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class ImageFiles(string imageDir, FileFingerprinter fingerprinter) : IDisposable
{
    /// <summary>The most paths remembered; a tenant executing ever new paths cannot grow the agent past it.</summary>
    internal const int MaxCacheEntries = 65_536;

    private readonly Dictionary<string, string?> _hashes = new(StringComparer.Ordinal);
    private RootedReader? _root;

    /// <summary>The SHA-256 of the image's file at <paramref name="path"/>: "" when it is there but cannot be hashed, null when the image has none.</summary>
    public string? Sha256(string path)
    {
        if (_hashes.TryGetValue(path, out string? sha))
        {
            return sha;
        }

        sha = Lookup(path);
        if (_hashes.Count >= MaxCacheEntries)
        {
            _hashes.Clear();
        }

        _hashes[path] = sha;
        return sha;
    }

    private string? Lookup(string path)
    {
        try
        {
            _root ??= RootedReader.Open(imageDir);
            using var file = _root.TryOpenRegular(path, RootedResolve.InRoot);
            if (file is not null)
            {
                return fingerprinter.TryFingerprint(file)?.Sha256 ?? "";
            }

            // There but not a regular file (a FIFO, a device, a folder): nothing to compare, so no verdict.
            return _root.TryStatPath(path, RootedResolve.InRoot) is null ? null : "";
        }
        catch (LinuxException)
        {
            return "";
        }
        catch (IOException)
        {
            return "";
        }
        catch (ObjectDisposedException)
        {
            return ""; // the sandbox was unwatched while its last exec was being identified
        }
    }

    internal int Remembered => _hashes.Count;

    public void Dispose() => _root?.Dispose();
}
