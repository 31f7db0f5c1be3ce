using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Moat.Pki.AuthCerts;

/// <summary>
/// Proof that whoever presents an authcert holds the private key it was issued for: that key's signature over the
/// purpose, a context (for `sandbox allow`: the sandbox id, so a proof opens one sandbox's path only), the authcert's
/// serial and the time of signing. An authcert is a public statement ("A accepts this key"); without the proof
/// anyone who saw it could present it.
/// </summary>
/// <param name="Context">What the proof is for (the sandbox id); the verifier compares it with its own.</param>
/// <param name="SignedAt">When it was signed; refused when further than <see cref="MaxSkew"/> from the verifier's clock.</param>
/// <param name="Signature">ECDSA (IEEE P1363, SHA-256) or RSA PKCS#1 v1.5 SHA-256 over <see cref="Message"/>.</param>
public sealed record PossessionProof(string Context, DateTimeOffset SignedAt, byte[] Signature)
{
    /// <summary>How far the signing time may be from the verifier's clock (loosely synchronised clocks).</summary>
    public static readonly TimeSpan MaxSkew = TimeSpan.FromMinutes(5);

    /// <summary>The exact bytes signed.</summary>
    public static byte[] Message(string context, string serial, DateTimeOffset signedAt) => Encoding.UTF8.GetBytes(
        $"moat authcert possession v1\n{context}\n{serial.ToUpperInvariant()}\n{signedAt.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)}");

    /// <summary>Signs with the user's private key (ECDSA or RSA) for the authcert with <paramref name="serial"/>.</summary>
    public static PossessionProof Create(AsymmetricAlgorithm key, string context, string serial, DateTimeOffset signedAt)
    {
        ArgumentNullException.ThrowIfNull(key);
        var at = DateTimeOffset.FromUnixTimeSeconds(signedAt.ToUnixTimeSeconds());
        var message = Message(context, serial, at);
        var signature = key switch
        {
            ECDsa ec => ec.SignData(message, HashAlgorithmName.SHA256),
            RSA rsa => rsa.SignData(message, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1),
            _ => throw new PkiException($"A {key.GetType().Name} key cannot sign a possession proof: use an ECDSA or RSA key."),
        };
        return new PossessionProof(context, at, signature);
    }

    /// <summary>Signs for the authcert that opens <paramref name="authCertPem"/> (its first certificate, as the verifier reads it).</summary>
    /// <exception cref="PkiException">The PEM holds no readable certificate.</exception>
    public static PossessionProof ForAuthCert(AsymmetricAlgorithm key, string context, string authCertPem, DateTimeOffset signedAt)
    {
        var certificates = Storage.PemFiles.AllPem(Encoding.ASCII.GetBytes(authCertPem ?? ""), "CERTIFICATE");
        if (certificates.Count == 0 || !Validation.ParsedCertificate.TryParse(certificates[0], out var leaf, out var error))
        {
            throw new PkiException("The authcert PEM holds no readable certificate to prove possession for.");
        }

        return Create(key, context, leaf!.SerialHex, signedAt);
    }

    /// <summary>Null when the proof holds for the key in <paramref name="subjectPublicKeyInfo"/>, else why not.</summary>
    internal string? Check(ReadOnlySpan<byte> subjectPublicKeyInfo, string expectedContext, string serial, DateTimeOffset now)
    {
        if (!string.Equals(Context, expectedContext, StringComparison.Ordinal))
        {
            return $"The proof of key possession was made for '{Context}', not for '{expectedContext}'.";
        }

        if ((now - SignedAt).Duration() > MaxSkew)
        {
            return $"The proof of key possession was signed at {SignedAt:u}, more than {MaxSkew.TotalMinutes:0} minutes from this host's clock ({now:u}); sign a new one.";
        }

        var message = Message(Context, serial, SignedAt);
        try
        {
            using var ec = ECDsa.Create();
            ec.ImportSubjectPublicKeyInfo(subjectPublicKeyInfo, out _);
            return ec.VerifyData(message, Signature, HashAlgorithmName.SHA256) ? null : Mismatch;
        }
        catch (CryptographicException)
        {
            // Not an EC key: RSA below.
        }

        try
        {
            using var rsa = RSA.Create();
            rsa.ImportSubjectPublicKeyInfo(subjectPublicKeyInfo, out _);
            return rsa.VerifyData(message, Signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1) ? null : Mismatch;
        }
        catch (CryptographicException)
        {
            return "The authcert's user key is neither ECDSA nor RSA, so no proof of its possession can be checked.";
        }
    }

    private const string Mismatch = "The proof of key possession does not verify with the key the authcert was issued for: the presenter does not hold that key.";
}

/// <summary>What a verifier demands of an authcert's presenter: a proof (null when none came) for this context.</summary>
public sealed record PossessionRequirement(string Context, PossessionProof? Proof);
