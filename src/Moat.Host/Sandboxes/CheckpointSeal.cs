using System.Security.Cryptography;
using System.Text;

namespace Moat.Host.Sandboxes;

/// <summary>
/// An HMAC-SHA256 over a checkpoint folder's files and the image it was taken on, written beside them when the
/// checkpoint is made. A checkpoint is executable state (gVisor's kernel and the processes' memory), so a host restores
/// one that arrives from elsewhere only when it carries a seal made with this host's checkpoint key: one this host made,
/// or one made by a host the operator gave the same key file.
/// </summary>
internal static class CheckpointSeal
{
    /// <summary>The seal's file inside the checkpoint folder (not covered by itself).</summary>
    public const string FileName = "moat.seal";

    private const int MinKeyBytes = 32;

    /// <summary>Writes the seal of <paramref name="dir"/> for a sandbox on image <paramref name="imageDigest"/>.</summary>
    public static void Seal(string dir, string imageDigest, byte[] key) =>
        File.WriteAllText(Path.Combine(dir, FileName), Convert.ToHexStringLower(Compute(dir, imageDigest, key)) + "\n");

    /// <summary>Null when <paramref name="dir"/> carries a valid seal for <paramref name="imageDigest"/>; otherwise why not.</summary>
    public static string? Verify(string dir, string imageDigest, byte[] key)
    {
        var file = Path.Combine(dir, FileName);
        if (!File.Exists(file))
        {
            return "it carries no seal";
        }

        byte[] given;
        try
        {
            given = Convert.FromHexString(File.ReadAllText(file).Trim());
        }
        catch (FormatException)
        {
            return "its seal is not readable";
        }

        return CryptographicOperations.FixedTimeEquals(given, Compute(dir, imageDigest, key))
            ? null
            : "its seal was not made with this host's checkpoint key for this image";
    }

    /// <summary>
    /// Reads the checkpoint key from <paramref name="configured"/>, or from <paramref name="ownDefault"/>, which is made
    /// (random, 0600 in a 0700 folder) when it does not exist yet. A configured file must already exist: making a fresh
    /// one there would silently stop the hosts that share it from trusting each other.
    /// </summary>
    public static byte[] LoadKey(string? configured, string ownDefault)
    {
        var path = configured ?? ownDefault;
        if (configured is null && !File.Exists(path))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            using var created = File.Open(path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
            created.Write(RandomNumberGenerator.GetBytes(MinKeyBytes));
        }

        if (!File.Exists(path))
        {
            throw new InvalidRequestException(
                $"checkpoint key file '{path}' does not exist; make it with 'head -c 32 /dev/urandom > {path}; chmod 600 {path}' and give the same file to every host that may restore this host's checkpoints.");
        }

        if ((File.GetUnixFileMode(path) & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0)
        {
            throw new InvalidRequestException($"checkpoint key file '{path}' can be read or written by other users; make it private with 'chmod 600 {path}'.");
        }

        var key = File.ReadAllBytes(path);
        return key.Length >= MinKeyBytes
            ? key
            : throw new InvalidRequestException($"checkpoint key file '{path}' holds {key.Length} bytes; a key needs at least {MinKeyBytes} (head -c 32 /dev/urandom).");
    }

    private static byte[] Compute(string dir, string imageDigest, byte[] key)
    {
        using var mac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        mac.AppendData(Encoding.UTF8.GetBytes($"moat-checkpoint-seal-v1\n{imageDigest}\n"));
        var files = Directory.EnumerateFiles(dir, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint })
            .Select(f => Path.GetRelativePath(dir, f))
            .Where(f => f != FileName)
            .Order(StringComparer.Ordinal);
        Span<byte> length = stackalloc byte[8];
        foreach (var relative in files)
        {
            using var content = File.OpenRead(Path.Combine(dir, relative));
            mac.AppendData(Encoding.UTF8.GetBytes(relative + "\0"));
            System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(length, content.Length);
            mac.AppendData(length);
            var buffer = new byte[128 * 1024];
            int n;
            while ((n = content.Read(buffer)) > 0)
            {
                mac.AppendData(buffer.AsSpan(0, n));
            }
        }

        return mac.GetHashAndReset();
    }
}
