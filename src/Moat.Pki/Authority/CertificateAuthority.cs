using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Moat.Pki.Authority;

/// <summary>A CA holding its certificate and private key: the Moat root, a node, or a surrogate host's CA.</summary>
public sealed class CertificateAuthority : IDisposable
{
    // Issued certificates start slightly in the past so a verifier whose clock lags a little still accepts them
    // (WASCo assumes loosely synchronised clocks).
    private static readonly TimeSpan s_backdate = TimeSpan.FromMinutes(5);

    private readonly AsymmetricAlgorithm _key;
    private readonly TimeProvider _timeProvider;

    public CertificateAuthority(X509Certificate2 certificate, AsymmetricAlgorithm privateKey, TimeProvider? timeProvider = null)
    {
        Certificate = certificate;
        _key = privateKey;
        _timeProvider = timeProvider ?? TimeProvider.System;
        if (privateKey is not (ECDsa or RSA))
        {
            throw new PkiInputException("The CA key must be an ECDSA or RSA private key.");
        }

        using var certificateKey = (AsymmetricAlgorithm?)certificate.GetECDsaPublicKey() ?? certificate.GetRSAPublicKey();
        if (certificateKey is null
            || !certificateKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(privateKey.ExportSubjectPublicKeyInfo()))
        {
            throw new PkiInputException($"The private key does not belong to certificate '{certificate.Subject}'; give the key file written together with that certificate.");
        }
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>Held while the private key signs; key objects are not documented thread-safe.</summary>
    internal Lock SigningLock { get; } = new();

    public AsymmetricAlgorithm PrivateKey => _key;

    /// <summary>Creates a self-signed root with a new ECDSA P-256 key.</summary>
    public static CertificateAuthority CreateRoot(string name, TimeSpan lifetime, TimeProvider? timeProvider = null)
    {
        var time = timeProvider ?? TimeProvider.System;
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(DistinguishedName(name), key, HashAlgorithmName.SHA256);
        CertificateProfiles.AddRoot(request);
        var now = time.GetUtcNow();
        var certificate = request.Create(
            request.SubjectName, X509SignatureGenerator.CreateForECDsa(key), now - s_backdate, now + lifetime, NewSerial());
        return new CertificateAuthority(certificate, key, time);
    }

    /// <summary>Issues a node certificate binding <paramref name="addresses"/> to <paramref name="nodeKey"/>.</summary>
    public X509Certificate2 IssueNodeCertificate(string name, PublicKey nodeKey, IReadOnlyList<IPAddress> addresses, TimeSpan lifetime)
    {
        if (addresses.Count == 0)
        {
            throw new PkiInputException("A node certificate needs at least one address (--address), for example 198.18.0.10.");
        }

        var request = new CertificateRequest(DistinguishedName(name), nodeKey, HashAlgorithmName.SHA256);
        CertificateProfiles.AddNode(request, addresses);
        return Issue(request, lifetime);
    }

    /// <summary>Issues a surrogate host's intermediate CA, limited to <paramref name="prefixes"/>.</summary>
    public X509Certificate2 IssueHostCa(string name, PublicKey hostKey, IReadOnlyList<IPNetwork> prefixes, IReadOnlyList<IPAddress> hostAddresses, TimeSpan lifetime)
    {
        if (prefixes.Count == 0)
        {
            throw new PkiInputException("A host CA needs at least one address prefix it may allocate (--prefix), for example 198.18.0.0/16.");
        }

        var request = new CertificateRequest(DistinguishedName(name), hostKey, HashAlgorithmName.SHA256);
        CertificateProfiles.AddHostCa(request, prefixes, hostAddresses);
        return Issue(request, lifetime);
    }

    /// <summary>Issues a sandbox's own certificate: an end entity naming its address.</summary>
    public X509Certificate2 IssueSandboxCertificate(IPAddress address, PublicKey sandboxKey, TimeSpan lifetime)
    {
        var request = new CertificateRequest(DistinguishedName($"sandbox {address}"), sandboxKey, HashAlgorithmName.SHA256);
        CertificateProfiles.AddSandbox(request, address);
        return Issue(request, lifetime);
    }

    /// <summary>Issues an authcert: this CA (node A, or the host on behalf of its sandbox) lets <paramref name="userKey"/> reach <paramref name="address"/>.</summary>
    public X509Certificate2 IssueAuthCert(IPAddress address, PublicKey userKey, TimeSpan lifetime)
    {
        var request = new CertificateRequest(DistinguishedName($"authcert {address}"), userKey, HashAlgorithmName.SHA256);
        CertificateProfiles.AddAuthCert(request, address);
        return Issue(request, lifetime);
    }

    public void Dispose()
    {
        _key.Dispose();
        Certificate.Dispose();
    }

    internal static byte[] NewSerial()
    {
        // 16 random octets, top bit clear (positive) and second bit set (no leading zero octet, so never zero).
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] = (byte)((serial[0] & 0x7F) | 0x40);
        return serial;
    }

    private static X500DistinguishedName DistinguishedName(string name)
    {
        var builder = new X500DistinguishedNameBuilder();
        builder.AddCommonName(name);
        return builder.Build();
    }

    private X509Certificate2 Issue(CertificateRequest request, TimeSpan lifetime)
    {
        if (lifetime <= TimeSpan.Zero)
        {
            throw new PkiInputException($"The lifetime {lifetime} is not positive; give a duration such as 1h or 30d.");
        }

        var now = _timeProvider.GetUtcNow();
        var notAfter = now + lifetime;
        if (notAfter > Certificate.NotAfter.ToUniversalTime())
        {
            // A certificate outliving its issuer would fail validation after the issuer expires; cap it instead.
            notAfter = new DateTimeOffset(Certificate.NotAfter.ToUniversalTime());
        }

        if (Certificate.Extensions[Validation.Oids.SubjectKeyIdentifier] is X509SubjectKeyIdentifierExtension issuerKeyId)
        {
            request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(issuerKeyId));
        }
        var generator = _key is ECDsa ecdsa
            ? X509SignatureGenerator.CreateForECDsa(ecdsa)
            : X509SignatureGenerator.CreateForRSA((RSA)_key, RSASignaturePadding.Pkcs1);
        lock (SigningLock)
        {
            return request.Create(Certificate.SubjectName, generator, now - s_backdate, notAfter, NewSerial());
        }
    }
}
