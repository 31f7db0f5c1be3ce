using System.Runtime.Versioning;

namespace Moat.Linux.Files;

/// <summary>
/// Writes secrets (passwords, keys) so that no other user can read them at any moment: the folder 0700, the file
/// created 0600 under a temporary name and renamed into place, so there is never a window with wider modes.
/// </summary>
[SupportedOSPlatform("linux")]
public static class SecretFile
{
    /// <summary>0700.</summary>
    public const UnixFileMode FolderMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>0600.</summary>
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Creates <paramref name="path"/> 0700, or tightens it to 0700 when it exists.</summary>
    public static string CreateFolder(string path)
    {
        Directory.CreateDirectory(path, FolderMode);
        File.SetUnixFileMode(path, FolderMode);
        return path;
    }

    /// <summary>Writes <paramref name="secret"/> to <paramref name="path"/> as a file that is 0600 from its first byte.</summary>
    public static async Task WriteAsync(string path, ReadOnlyMemory<byte> secret, CancellationToken cancellationToken = default)
    {
        string partial = path + ".tmp";
        File.Delete(partial);
        var options = new FileStreamOptions { Mode = System.IO.FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = FileMode };
        await using (var stream = new FileStream(partial, options))
        {
            await stream.WriteAsync(secret, cancellationToken).ConfigureAwait(false);
        }

        File.Move(partial, path, overwrite: true);
    }

    /// <summary>Writes <paramref name="secret"/> and a newline (a password file) as <see cref="WriteAsync(string, ReadOnlyMemory{byte}, CancellationToken)"/> does.</summary>
    public static Task WriteLineAsync(string path, string secret, CancellationToken cancellationToken = default) =>
        WriteAsync(path, System.Text.Encoding.UTF8.GetBytes(secret + "\n"), cancellationToken);
}
