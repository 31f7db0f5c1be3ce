using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Moat.Pki.Authority;
using Moat.Pki.Validation;

namespace Moat.Pki.Tests.Validation;

public sealed class PathValidatorTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public void CrossSignedPoolWithoutARoot_StopsAtTheSignatureBudget()
    {
        // Four keys that all call themselves "CN=loop" and cross-sign each other (16 certificates): every link
        // verifies, none reaches the root, and an unbounded search would try every ordering.
        var keys = Enumerable.Range(0, 4).Select(_ => ECDsa.Create(ECCurve.NamedCurves.nistP256)).ToList();
        var pool = new List<ParsedCertificate>();
        byte serial = 1;
        foreach (var subjectKey in keys)
        {
            foreach (var signerKey in keys)
            {
                var request = new CertificateRequest("CN=loop", subjectKey, HashAlgorithmName.SHA256);
                request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
                using var cert = request.Create(new X500DistinguishedName("CN=loop"), X509SignatureGenerator.CreateForECDsa(signerKey),
                    TestPki.Start.AddDays(-1), TestPki.Start.AddDays(1), [serial++]);
                pool.Add(Parse(cert.RawData));
            }
        }

        var leafRequest = new CertificateRequest("CN=leaf", _pki.UserKey, HashAlgorithmName.SHA256);
        using var leaf = leafRequest.Create(new X500DistinguishedName("CN=loop"), X509SignatureGenerator.CreateForECDsa(keys[0]),
            TestPki.Start.AddDays(-1), TestPki.Start.AddDays(1), [0x7f]);
        var options = new PathValidationOptions { Time = _pki.Clock.GetUtcNow() };

        var result = PathValidator.Validate(Parse(leaf.RawData), pool, [Parse(_pki.Root.Certificate.RawData)], options);

        Assert.Equal(RefusalReason.NoTrustedPath, result.Refusal?.Reason);
        Assert.Contains("gave up after 64 signature checks", result.Refusal!.Detail, StringComparison.Ordinal);
        keys.ForEach(k => k.Dispose());
    }

    [Fact]
    public void RealSignerAmongImpostors_IsFound()
    {
        var pool = new List<ParsedCertificate>();
        for (var i = 0; i < 3; i++)
        {
            using var ca = CertificateAuthority.CreateRoot("node A", TimeSpan.FromDays(1), _pki.Clock);
            pool.Add(Parse(ca.Certificate.RawData));
        }

        pool.Add(Parse(_pki.Node.Certificate.RawData));
        using var authCert = _pki.Node.IssueAuthCert(TestPki.NodeAddress, _pki.UserPublicKey, TimeSpan.FromHours(1));
        var options = new PathValidationOptions { Time = _pki.Clock.GetUtcNow() };

        var result = PathValidator.Validate(Parse(authCert.RawData), pool, [Parse(_pki.Root.Certificate.RawData)], options);

        Assert.True(result.IsValid, result.Refusal?.Detail);
        Assert.Equal(3, result.Path.Count);
    }

    [Fact]
    public void RootNameConstraints_BindCertificatesTwoLevelsDown()
    {
        // A root constrained to 198.18.0.0/15 cannot lend 203.0.113.0/24 to a host CA.
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=constrained root", rootKey, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 1, true));
        request.CertificateExtensions.Add(CertificateProfiles.NameConstraints([IPNetwork.Parse("198.18.0.0/15")]));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var rootCert = request.CreateSelfSigned(TestPki.Start.AddDays(-1), TestPki.Start.AddDays(10));
        using var root = new CertificateAuthority(X509CertificateLoader.LoadCertificate(rootCert.RawData), rootKey, _pki.Clock);
        using var hostKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var hostCert = root.IssueHostCa("far host", TestPki.PublicKeyOf(hostKey), [IPNetwork.Parse("203.0.113.0/24")], [], TimeSpan.FromDays(1));
        using var host = new CertificateAuthority(X509CertificateLoader.LoadCertificate(hostCert.RawData), hostKey, _pki.Clock);
        using var authCert = host.IssueAuthCert(IPAddress.Parse("203.0.113.7"), _pki.UserPublicKey, TimeSpan.FromHours(1));
        var verifier = new Moat.Pki.AuthCerts.AuthCertVerifier([rootCert.RawData], _pki.Clock);

        var verdict = verifier.Verify(authCert.RawData, [hostCert.RawData]);

        Assert.Equal(RefusalReason.NameConstraintsViolated, verdict.Reason);
        Assert.Contains("constrained root", verdict.Explanation, StringComparison.Ordinal);
    }

    private static ParsedCertificate Parse(byte[] der)
    {
        Assert.True(ParsedCertificate.TryParse(der, out var parsed, out var error), error);
        return parsed!;
    }
}
