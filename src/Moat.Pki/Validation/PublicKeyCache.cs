using System.Collections.Concurrent;
using System.Formats.Asn1;
using System.Security.Cryptography;

namespace Moat.Pki.Validation;

/// <summary>An imported public key; callers lock on the holder because key objects are not documented thread-safe.</summary>
internal sealed class ImportedKey(AsymmetricAlgorithm key)
{
    public AsymmetricAlgorithm Key { get; } = key;
}

/// <summary>Imported public keys by SubjectPublicKeyInfo, bounded: when full it is emptied and refilled.</summary>
internal sealed class PublicKeyCache(int capacity)
{
    private readonly ConcurrentDictionary<string, ImportedKey> _keys = new(StringComparer.Ordinal);

    /// <summary>The imported key; throws CryptographicException/AsnContentException when the key is unusable (never cached).</summary>
    public ImportedKey Get(byte[] spki)
    {
        var id = Convert.ToBase64String(spki);
        if (_keys.TryGetValue(id, out var cached))
        {
            return cached;
        }

        var imported = new ImportedKey(Import(spki));
        if (_keys.Count >= capacity)
        {
            // Keys evicted here may still be in use by another thread; they are left to the finalizer, not disposed.
            _keys.Clear();
        }

        return _keys.GetOrAdd(id, imported);
    }

    private static AsymmetricAlgorithm Import(byte[] spki)
    {
        // Only keys the policy accepts reach the crypto library: an unknown curve OID would otherwise surface as
        // PlatformNotSupportedException from deep inside the import.
        if (SignatureVerifier.RefuseKey(spki) is { } refused)
        {
            throw new CryptographicException(refused);
        }

        var reader = new AsnReader(spki, AsnEncodingRules.DER).ReadSequence();
        var algorithm = AlgorithmIdentifier.Read(reader);
        AsymmetricAlgorithm key = algorithm.Oid switch
        {
            Oids.EcPublicKey => ECDsa.Create(),
            Oids.Rsa => RSA.Create(),
            _ => throw new CryptographicException($"public key algorithm {algorithm.Oid} is not EC or RSA"),
        };
        try
        {
            key.ImportSubjectPublicKeyInfo(spki, out var read);
            if (read != spki.Length)
            {
                throw new CryptographicException("trailing data after the SubjectPublicKeyInfo");
            }

            return key;
        }
        catch
        {
            key.Dispose();
            throw;
        }
    }
}
