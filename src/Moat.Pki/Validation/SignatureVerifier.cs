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
    /// <summary>Why a subject public key is refused (null when acceptable): only EC on the NIST curves and RSA of at least 2048 bits.</summary>
    public static string? RefuseKey(byte[] spki)
    {
        try
        {
            var algorithm = ReadKeyAlgorithm(spki);
            switch (algorithm.Oid)
            {
                case Oids.EcPublicKey:
                    {
                        var curve = CurveOf(algorithm);
                        if (curve is null)
                        {
                            return "its public key is on an elliptic curve other than P-256, P-384 or P-521";
                        }

                        using var ecdsa = ECDsa.Create();
                        ecdsa.ImportSubjectPublicKeyInfo(spki, out _);
                        return null;
                    }

                case Oids.Rsa:
                    {
                        using var rsa = RSA.Create();
                        rsa.ImportSubjectPublicKeyInfo(spki, out _);
                        return rsa.KeySize < 2048 ? $"its RSA key has {rsa.KeySize} bits; at least 2048 are required" : null;
                    }

                default:
                    return $"its public key algorithm {algorithm.Oid} is not EC or RSA";
            }
        }
        catch (CryptographicException ex)
        {
            return $"its public key cannot be imported: {ex.Message}";
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
            var keyAlgorithm = ReadKeyAlgorithm(signerSpki);
            var isEcdsaSignature = algorithm.Oid.StartsWith("1.2.840.10045.4.3.", StringComparison.Ordinal);
            if (isEcdsaSignature && keyAlgorithm.Oid == Oids.EcPublicKey)
            {
                using var ecdsa = ECDsa.Create();
                ecdsa.ImportSubjectPublicKeyInfo(signerSpki, out _);
                return VerifyEcdsaDer(ecdsa, data, signature, hash) ? SignatureOutcome.Valid : SignatureOutcome.Invalid;
            }

            if (!isEcdsaSignature && keyAlgorithm.Oid == Oids.Rsa)
            {
                using var rsa = RSA.Create();
                rsa.ImportSubjectPublicKeyInfo(signerSpki, out _);
                return rsa.VerifyData(data, signature, hash, RSASignaturePadding.Pkcs1)
                    ? SignatureOutcome.Valid
                    : SignatureOutcome.Invalid;
            }

            return SignatureOutcome.Invalid;
        }
        catch (CryptographicException)
        {
            return SignatureOutcome.UnusableKey;
        }
        catch (AsnContentException)
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

    private static AlgorithmIdentifier ReadKeyAlgorithm(byte[] spki)
    {
        var reader = new AsnReader(spki, AsnEncodingRules.DER).ReadSequence();
        return AlgorithmIdentifier.Read(reader);
    }

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
