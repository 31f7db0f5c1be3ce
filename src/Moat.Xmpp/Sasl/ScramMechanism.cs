using System.Security.Cryptography;
using System.Text;

namespace Moat.Xmpp.Sasl;

/// <summary>RFC 5802 / RFC 7677 SCRAM client without channel binding (gs2 header "n,,").</summary>
internal sealed class ScramMechanism : ISaslMechanism
{
    private readonly HashAlgorithmName hash;
    private readonly string username;
    private readonly string password;
    private readonly string clientNonce;
    private string clientFirstBare = string.Empty;
    private byte[] expectedServerSignature = [];

    public ScramMechanism(HashAlgorithmName hash, string username, string password, string clientNonce)
    {
        this.hash = hash;
        this.username = username;
        this.password = password;
        this.clientNonce = clientNonce;
        Name = hash == HashAlgorithmName.SHA256 ? "SCRAM-SHA-256" : "SCRAM-SHA-1";
    }

    public string Name { get; }

    /// <summary>Makes a fresh nonce; cryptographic randomness because a guessable nonce weakens the exchange.</summary>
    public static string NewNonce() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(18));

    public byte[] InitialResponse()
    {
        clientFirstBare = $"n={Escape(username)},r={clientNonce}";
        return Encoding.UTF8.GetBytes("n,," + clientFirstBare);
    }

    public byte[]? Respond(byte[] challenge)
    {
        string serverFirst = Encoding.UTF8.GetString(challenge);
        var fields = Parse(serverFirst);
        if (!fields.TryGetValue('r', out var nonce) || !nonce.StartsWith(clientNonce, StringComparison.Ordinal)
            || !fields.TryGetValue('s', out var salt64) || !fields.TryGetValue('i', out var iterText)
            || !int.TryParse(iterText, out int iterations) || iterations < 1 || iterations > 1_000_000)
        {
            return null;
        }

        byte[] salt;
        try
        {
            salt = Convert.FromBase64String(salt64);
        }
        catch (FormatException)
        {
            return null;
        }

        var keys = DeriveKeys(hash, password, salt, iterations);
        string clientFinalWithoutProof = $"c=biws,r={nonce}";
        string authMessage = $"{clientFirstBare},{serverFirst},{clientFinalWithoutProof}";
        byte[] clientSignature = HMAC(hash, keys.StoredKey, Encoding.UTF8.GetBytes(authMessage));
        byte[] proof = new byte[clientSignature.Length];
        for (int i = 0; i < proof.Length; i++)
        {
            proof[i] = (byte)(keys.ClientKey[i] ^ clientSignature[i]);
        }

        expectedServerSignature = HMAC(hash, keys.ServerKey, Encoding.UTF8.GetBytes(authMessage));
        return Encoding.UTF8.GetBytes($"{clientFinalWithoutProof},p={Convert.ToBase64String(proof)}");
    }

    public bool VerifySuccess(byte[] data)
    {
        var fields = Parse(Encoding.UTF8.GetString(data));
        if (!fields.TryGetValue('v', out var v64))
        {
            return false;
        }

        try
        {
            return CryptographicOperations.FixedTimeEquals(Convert.FromBase64String(v64), expectedServerSignature);
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>The values a server stores for a password (RFC 5802 §3), also used to provision Prosody accounts.</summary>
    internal sealed record ScramKeys(byte[] ClientKey, byte[] StoredKey, byte[] ServerKey);

    internal static ScramKeys DeriveKeys(HashAlgorithmName hash, string password, byte[] salt, int iterations)
    {
        int length = hash == HashAlgorithmName.SHA256 ? 32 : 20;
        byte[] salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, hash, length);
        byte[] clientKey = HMAC(hash, salted, "Client Key"u8.ToArray());
        byte[] storedKey = hash == HashAlgorithmName.SHA256 ? SHA256.HashData(clientKey) : SHA1.HashData(clientKey);
        byte[] serverKey = HMAC(hash, salted, "Server Key"u8.ToArray());
        return new ScramKeys(clientKey, storedKey, serverKey);
    }

    private static byte[] HMAC(HashAlgorithmName hash, byte[] key, byte[] data) =>
        hash == HashAlgorithmName.SHA256 ? HMACSHA256.HashData(key, data) : HMACSHA1.HashData(key, data);

    private static string Escape(string name) => name.Replace("=", "=3D", StringComparison.Ordinal).Replace(",", "=2C", StringComparison.Ordinal);

    private static Dictionary<char, string> Parse(string message)
    {
        var fields = new Dictionary<char, string>();
        foreach (var part in message.Split(','))
        {
            if (part.Length >= 2 && part[1] == '=')
            {
                fields[part[0]] = part[2..];
            }
        }

        return fields;
    }
}
