using System.Formats.Asn1;
using System.Security.Cryptography;

namespace Moat.Pki.Validation;

/// <summary>The outcome of checking one signature.</summary>
internal enum SignatureOutcome
{
    Valid,
    Invalid,
    UnsupportedAlgorithm,
    UnusableKey,
}

/// <summary>Verifies X.509 signatures: ECDSA (P-256/P-384/P-521) and RSA PKCS#1 v1.5, with SHA-256/384/512 only.</summary>
internal static class SignatureVerifier
{
    /// <summary>
    /// Why a subject public key is refused (null when acceptable): only EC on the NIST curves and RSA of at least
    /// 2048 bits. This reads the SubjectPublicKeyInfo structure only; the key itself is imported (and its point
    /// validated) when it verifies a signature, which for a leaf's key never happens during path validation.
    /// </summary>
    public static string? RefuseKey(byte[] spki)
    {
        try
        {
            var reader = new AsnReader(spki, AsnEncodingRules.DER).ReadSequence();
            var algorithm = AlgorithmIdentifier.Read(reader);
            var key = reader.ReadBitString(out var unused);
            reader.ThrowIfNotEmpty();
            if (unused != 0)
            {
                return "its public key BIT STRING has unused bits";
            }

            switch (algorithm.Oid)
            {
                case Oids.EcPublicKey:
                    return CurveOf(algorithm) is null ? "its public key is on an elliptic curve other than P-256, P-384 or P-521" : null;

                case Oids.Rsa:
                    {
                        var rsaKey = new AsnReader(key, AsnEncodingRules.DER).ReadSequence();
                        var modulus = rsaKey.ReadIntegerBytes().Span;
                        var bits = (modulus.Length - (modulus[0] == 0 ? 1 : 0)) * 8;
                        return bits < 2048 ? $"its RSA key has about {bits} bits; at least 2048 are required" : null;
                    }

                default:
                    return $"its public key algorithm {algorithm.Oid} is not EC or RSA";
            }
        }
        catch (AsnContentException ex)
        {
            return $"its public key is not valid DER: {ex.Message}";
        }
    }

    public static bool IsSupportedSignatureAlgorithm(AlgorithmIdentifier algorithm) => HashOf(algorithm) is not null;

    public static SignatureOutcome Verify(ReadOnlySpan<byte> data, byte[] signature, AlgorithmIdentifier algorithm, byte[] signerSpki)
    {
        if (HashOf(algorithm) is not { } hash)
        {
            return SignatureOutcome.UnsupportedAlgorithm;
        }

        try
        {
            var isEcdsaSignature = algorithm.Oid.StartsWith("1.2.840.10045.4.3.", StringComparison.Ordinal);
            var signer = s_keys.Get(signerSpki);
            lock (signer)
            {
                return signer.Key switch
                {
                    ECDsa ecdsa when isEcdsaSignature => VerifyEcdsaDer(ecdsa, data, signature, hash) ? SignatureOutcome.Valid : SignatureOutcome.Invalid,
                    RSA rsa when !isEcdsaSignature => rsa.VerifyData(data, signature, hash, RSASignaturePadding.Pkcs1) ? SignatureOutcome.Valid : SignatureOutcome.Invalid,
                    _ => SignatureOutcome.Invalid,
                };
            }
        }
        catch (Exception ex) when (ex is CryptographicException or AsnContentException or PlatformNotSupportedException)
        {
            return SignatureOutcome.UnusableKey;
        }
    }

    /// <summary>
    /// Verifies an ECDSA signature given as DER SEQUENCE { r, s }. The encoding is checked strictly here (minimal
    /// INTEGERs, both positive, no trailing data) before conversion to r||s, so BER variants of a valid signature
    /// are refused whatever the crypto library would tolerate.
    /// </summary>
    public static bool VerifyEcdsaDer(ECDsa key, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature, HashAlgorithmName hash)
    {
        var fieldBytes = (key.KeySize + 7) / 8;
        Span<byte> p1363 = stackalloc byte[2 * 66];
        p1363 = p1363[..(2 * fieldBytes)];
        p1363.Clear();
        try
        {
            var reader = new AsnReader(signature.ToArray(), AsnEncodingRules.DER);
            var seq = reader.ReadSequence();
            reader.ThrowIfNotEmpty();
            if (!CopyScalar(seq.ReadIntegerBytes().Span, p1363[..fieldBytes])
                || !CopyScalar(seq.ReadIntegerBytes().Span, p1363[fieldBytes..]))
            {
                return false;
            }

            seq.ThrowIfNotEmpty();
        }
        catch (AsnContentException)
        {
            return false;
        }

        return key.VerifyData(data, p1363, hash, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }

    private static bool CopyScalar(ReadOnlySpan<byte> integer, Span<byte> destination)
    {
        // DER INTEGER content: a leading 0x80 bit means negative, which r and s never are.
        if (integer.IsEmpty || (integer[0] & 0x80) != 0)
        {
            return false;
        }

        if (integer.Length > 1 && integer[0] == 0)
        {
            integer = integer[1..];
        }

        if (integer.Length > destination.Length)
        {
            return false;
        }

        integer.CopyTo(destination[(destination.Length - integer.Length)..]);
        return true;
    }

    private static HashAlgorithmName? HashOf(AlgorithmIdentifier algorithm)
    {
        var isEcdsa = algorithm.Oid.StartsWith("1.2.840.10045.4.3.", StringComparison.Ordinal);
        if (isEcdsa && !algorithm.Parameters.IsEmpty)
        {
            return null;
        }

        // RSA PKCS#1 identifiers carry NULL parameters; absent parameters are tolerated as many encoders omit them.
        if (!isEcdsa && !algorithm.Parameters.IsEmpty && !algorithm.Parameters.Span.SequenceEqual(s_derNull))
        {
            return null;
        }

        return algorithm.Oid switch
        {
            Oids.EcdsaSha256 or Oids.RsaSha256 => HashAlgorithmName.SHA256,
            Oids.EcdsaSha384 or Oids.RsaSha384 => HashAlgorithmName.SHA384,
            Oids.EcdsaSha512 or Oids.RsaSha512 => HashAlgorithmName.SHA512,
            _ => null,
        };
    }

    private static readonly byte[] s_derNull = [0x05, 0x00];

    // Importing a key validates its point, which costs about as much as a verification; issuers' keys recur on
    // every request, so imported keys are kept.
    private static readonly PublicKeyCache s_keys = new(capacity: 256);

    private static string? CurveOf(AlgorithmIdentifier algorithm)
    {
        if (algorithm.Parameters.IsEmpty)
        {
            return null;
        }

        var reader = new AsnReader(algorithm.Parameters, AsnEncodingRules.DER);
        if (!reader.PeekTag().HasSameClassAndValue(Asn1Tag.ObjectIdentifier))
        {
            return null;
        }

        var curve = reader.ReadObjectIdentifier();
        return curve is Oids.P256 or Oids.P384 or Oids.P521 ? curve : null;
    }
}
