using System.Security.Cryptography;
using System.Text;
using Moat.Control.Store;

namespace Moat.Control.Auth;

/// <summary>
/// API keys: <c>moat_&lt;id&gt;_&lt;secret&gt;</c>, a 48-bit id (stored in the clear, so a key is found without
/// scanning) and a 256-bit secret. Only the SHA-256 of the whole key is stored; a key is shown once, when made.
/// </summary>
public static class ApiKeys
{
    private const string Prefix = "moat_";
    private const int IdHexLength = 12;
    private const int SecretBytes = 32;

    /// <summary>Longest text taken as a key; anything longer is refused before hashing.</summary>
    public const int MaxLength = 128;

    /// <summary>Makes a key for <paramref name="client"/>: the text to hand over once, and the record to store.</summary>
    public static (string Key, KeyRecord Record) Create(string client, KeyScope scope, DateTimeOffset now, DateTimeOffset? expires)
    {
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(IdHexLength / 2));
        var secret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(SecretBytes)).TrimEnd('=').Replace('+', '-').Replace('/', '.');
        var key = $"{Prefix}{id}_{secret}";
        return (key, new KeyRecord(id, client, scope, Hash(key), now, expires, null));
    }

    /// <summary>The id part of a well-formed key; false for anything that is not one (no hashing, no store lookup).</summary>
    public static bool TryParseId(string? key, out string id)
    {
        id = string.Empty;
        if (key is null || key.Length > MaxLength || !key.StartsWith(Prefix, StringComparison.Ordinal) || key.Length < Prefix.Length + IdHexLength + 2
            || key[Prefix.Length + IdHexLength] != '_')
        {
            return false;
        }

        var candidate = key.AsSpan(Prefix.Length, IdHexLength);
        foreach (var c in candidate)
        {
            if (!char.IsAsciiHexDigitLower(c))
            {
                return false;
            }
        }

        foreach (var c in key.AsSpan(Prefix.Length + IdHexLength + 1))
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '.'))
            {
                return false;
            }
        }

        id = candidate.ToString();
        return true;
    }

    /// <summary>Whether <paramref name="key"/> is the one <paramref name="record"/> was made for, compared in constant time.</summary>
    public static bool Matches(string key, KeyRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        return CryptographicOperations.FixedTimeEquals(Hash(key), record.Hash);
    }

    public static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));
}
