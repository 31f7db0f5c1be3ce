using System.Numerics;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Moat.Pki.Revocation;
using Moat.Pki.Storage;

namespace Moat.Pki.Authority;

/// <summary>A certificate just issued, with what a host agent needs to remember about it.</summary>
public sealed record IssuedCertificate(X509Certificate2 Certificate, string Serial, IPAddress Address, DateTimeOffset NotAfter)
{
    /// <summary>The certificate followed by the issuer's certificate, PEM, ready to hand to a client.</summary>
    public required string ChainPem { get; init; }
}

/// <summary>
/// A CA with its issuance ledger: what the host agent uses to certify its sandboxes' addresses with short
/// lifetimes, sign authcerts on their behalf, revoke everything for a destroyed sandbox and publish the CRL.
/// </summary>
public sealed class HostAuthority : IDisposable
{
    /// <summary>Sandbox certificates and authcerts live one hour unless the caller says otherwise.</summary>
    public static readonly TimeSpan DefaultLifetime = TimeSpan.FromHours(1);

    /// <summary>A CRL is reissued at least this often (its nextUpdate), so verifiers notice a silent host.</summary>
    public static readonly TimeSpan DefaultCrlValidity = TimeSpan.FromHours(1);

    private readonly TimeProvider _timeProvider;

    public HostAuthority(CertificateAuthority authority, IssuanceLedger ledger, TimeProvider? timeProvider = null)
    {
        Authority = authority;
        Ledger = ledger;
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    public CertificateAuthority Authority { get; }

    public IssuanceLedger Ledger { get; }

    /// <summary>Loads a CA from its PEM certificate and key and its ledger (created empty if absent).</summary>
    public static async Task<HostAuthority> LoadAsync(string certificatePath, string keyPath, string ledgerPath, TimeProvider? timeProvider = null, CancellationToken cancellationToken = default)
    {
        var certificate = PemFiles.ReadCertificate(certificatePath);
        var key = PemFiles.ReadPrivateKey(keyPath);
        var ledger = await IssuanceLedger.LoadAsync(ledgerPath, cancellationToken).ConfigureAwait(false);
        return new HostAuthority(new CertificateAuthority(certificate, key, timeProvider), ledger, timeProvider);
    }

    /// <summary>Issues a sandbox's own certificate for <paramref name="address"/>.</summary>
    public IssuedCertificate IssueSandboxCertificate(IPAddress address, PublicKey sandboxKey, TimeSpan? lifetime = null) =>
        Record("sandbox", address, Authority.IssueSandboxCertificate(address, sandboxKey, lifetime ?? DefaultLifetime));

    /// <summary>Signs an authcert on behalf of the sandbox at <paramref name="address"/>, letting <paramref name="userKey"/> reach it.</summary>
    public IssuedCertificate IssueAuthCert(IPAddress address, PublicKey userKey, TimeSpan? lifetime = null) =>
        Record("authcert", address, Authority.IssueAuthCert(address, userKey, lifetime ?? DefaultLifetime));

    /// <summary>Revokes every unexpired certificate this CA issued for <paramref name="address"/>; returns how many.</summary>
    public int RevokeAddress(IPAddress address) => Ledger.RevokeAddress(address, _timeProvider.GetUtcNow());

    /// <summary>Builds and signs a new CRL (DER) listing every revoked, unexpired certificate.</summary>
    public byte[] BuildCrl(TimeSpan? validity = null)
    {
        var now = _timeProvider.GetUtcNow();
        Ledger.Prune(now);
        var builder = new CertificateRevocationListBuilder();
        foreach (var entry in Ledger.RevokedUnexpired(now))
        {
            builder.AddEntry(Convert.FromHexString(entry.Serial), entry.RevokedAt!.Value);
        }

        using var signer = Authority.PrivateKey is ECDsa ecdsa
            ? Authority.Certificate.CopyWithPrivateKey(ecdsa)
            : Authority.Certificate.CopyWithPrivateKey((RSA)Authority.PrivateKey);
        lock (Authority.SigningLock)
        {
            return builder.Build(
                signer,
                new BigInteger(Ledger.NextCrlNumber()),
                now + (validity ?? DefaultCrlValidity),
                HashAlgorithmName.SHA256,
                Authority.PrivateKey is RSA ? RSASignaturePadding.Pkcs1 : null,
                now);
        }
    }

    public void Dispose() => Authority.Dispose();

    private IssuedCertificate Record(string kind, IPAddress address, X509Certificate2 certificate)
    {
        var serial = certificate.SerialNumber;
        var notAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime());
        Ledger.Record(serial, kind, address, notAfter);
        var pem = new string(PemEncoding.Write("CERTIFICATE", certificate.RawData)) + "\n"
            + new string(PemEncoding.Write("CERTIFICATE", Authority.Certificate.RawData)) + "\n";
        return new IssuedCertificate(certificate, serial, address, notAfter) { ChainPem = pem };
    }
}
