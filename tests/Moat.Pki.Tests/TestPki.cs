using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Moat.Pki.Authority;
using Moat.Pki.Revocation;

namespace Moat.Pki.Tests;

/// <summary>A small PKI built for one test: a root, node A at 198.18.1.5, a host CA for 198.18.0.0/16 and a user key.</summary>
internal sealed class TestPki : IDisposable
{
    public static readonly DateTimeOffset Start = new(2026, 11, 22, 6, 0, 0, TimeSpan.Zero);
    public static readonly IPAddress NodeAddress = IPAddress.Parse("198.18.1.5");
    public static readonly IPNetwork HostPrefix = IPNetwork.Parse("198.18.0.0/16");

    public TestPki()
    {
        Clock = new ManualTimeProvider(Start);
        Root = CertificateAuthority.CreateRoot("Moat test root", TimeSpan.FromDays(365), Clock);
        NodeKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var nodeCert = Root.IssueNodeCertificate("node A", PublicKeyOf(NodeKey), [NodeAddress], TimeSpan.FromDays(30));
        Node = new CertificateAuthority(nodeCert, NodeKey, Clock);
        var hostKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var hostCert = Root.IssueHostCa("host S", PublicKeyOf(hostKey), [HostPrefix], [IPAddress.Parse("198.19.0.1")], TimeSpan.FromDays(30));
        Host = new HostAuthority(new CertificateAuthority(hostCert, hostKey, Clock), new IssuanceLedger(), Clock);
        UserKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    }

    public ManualTimeProvider Clock { get; }

    public CertificateAuthority Root { get; }

    public ECDsa NodeKey { get; }

    public CertificateAuthority Node { get; }

    public HostAuthority Host { get; }

    public ECDsa UserKey { get; }

    public PublicKey UserPublicKey => PublicKeyOf(UserKey);

    public static PublicKey PublicKeyOf(AsymmetricAlgorithm key) =>
        PublicKey.CreateFromSubjectPublicKeyInfo(key.ExportSubjectPublicKeyInfo(), out _);

    public global::Moat.Pki.AuthCerts.AuthCertVerifier Verifier(CrlStore? crls = null) => new([Root.Certificate.RawData], Clock, crls);

    public void Dispose()
    {
        Root.Dispose();
        Node.Dispose();
        Host.Dispose();
        UserKey.Dispose();
    }
}
