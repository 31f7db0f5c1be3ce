using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Moat.Pki.Authority;
using Moat.Pki.Validation;

namespace Moat.Pki.Tests.AuthCerts;

public sealed class AuthCertVerifierTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public void NodeSignedAuthCert_OpensPathToNodeAddress()
    {
        using var authCert = _pki.Node.IssueAuthCert(TestPki.NodeAddress, _pki.UserPublicKey, TimeSpan.FromHours(1));

        var verdict = _pki.Verifier().Verify(authCert.RawData, [_pki.Node.Certificate.RawData], TestPki.NodeAddress, _pki.UserKey.ExportSubjectPublicKeyInfo());

        Assert.True(verdict.IsOpen, verdict.Explanation);
        Assert.Equal(TestPki.NodeAddress, verdict.Address);
        Assert.Equal(TestPki.Start.AddHours(1), verdict.ValidUntil);
        Assert.Equal(authCert.SerialNumber, verdict.Serial);
        Assert.Equal(["CN=node A", "CN=Moat test root"], verdict.IssuerChain);
        Assert.StartsWith("open path user→198.18.1.5", verdict.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void HostSignedAuthCert_ForSandboxInItsPrefix_Opens()
    {
        var issued = _pki.Host.IssueAuthCert(IPAddress.Parse("198.18.7.9"), _pki.UserPublicKey);

        var verdict = _pki.Verifier().Verify(issued.Certificate.RawData, [_pki.Host.Authority.Certificate.RawData]);

        Assert.True(verdict.IsOpen, verdict.Explanation);
        Assert.Equal(IPAddress.Parse("198.18.7.9"), verdict.Address);
        Assert.Equal(TestPki.Start + HostAuthority.DefaultLifetime, verdict.ValidUntil);
    }

    [Fact]
    public void NodeSigningForAnotherAddress_IsOutsideItsNameConstraints()
    {
        using var authCert = _pki.Node.IssueAuthCert(IPAddress.Parse("198.18.1.6"), _pki.UserPublicKey, TimeSpan.FromHours(1));

        var verdict = _pki.Verifier().Verify(authCert.RawData, [_pki.Node.Certificate.RawData]);

        Assert.False(verdict.IsOpen);
        Assert.Equal(RefusalReason.NameConstraintsViolated, verdict.Reason);
        Assert.Contains("198.18.1.6", verdict.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void NodeCertificateWithoutConstraints_SigningForAnotherAddress_DoesNotBindIt()
    {
        // A CA certificate from some other issuer profile: CA with IP SAN 198.18.1.5 but no name constraints.
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=lax node", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(TestPki.NodeAddress);
        request.CertificateExtensions.Add(san.Build());
        using var laxCert = Sign(request, _pki.Root);
        using var lax = new CertificateAuthority(X509CertificateLoader.LoadCertificate(laxCert.RawData), key, _pki.Clock);
        using var authCert = lax.IssueAuthCert(IPAddress.Parse("198.18.200.1"), _pki.UserPublicKey, TimeSpan.FromHours(1));

        var verdict = _pki.Verifier().Verify(authCert.RawData, [laxCert.RawData]);

        Assert.Equal(RefusalReason.SignerDoesNotBindAddress, verdict.Reason);
    }

    [Fact]
    public void HostSigningOutsideItsPrefix_IsRefused()
    {
        var issued = _pki.Host.IssueAuthCert(IPAddress.Parse("198.19.5.5"), _pki.UserPublicKey);

        var verdict = _pki.Verifier().Verify(issued.Certificate.RawData, [_pki.Host.Authority.Certificate.RawData]);

        Assert.Equal(RefusalReason.NameConstraintsViolated, verdict.Reason);
        Assert.Contains("198.18.0.0/16", verdict.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void RequestForAnotherAddress_IsAddressMismatch()
    {
        using var authCert = _pki.Node.IssueAuthCert(TestPki.NodeAddress, _pki.UserPublicKey, TimeSpan.FromHours(1));

        var verdict = _pki.Verifier().Verify(authCert.RawData, [_pki.Node.Certificate.RawData], IPAddress.Parse("198.18.1.7"));

        Assert.Equal(RefusalReason.AddressMismatch, verdict.Reason);
    }

    [Fact]
    public void AfterTheLifetime_IsExpired()
    {
        using var authCert = _pki.Node.IssueAuthCert(TestPki.NodeAddress, _pki.UserPublicKey, TimeSpan.FromHours(1));
        _pki.Clock.Advance(TimeSpan.FromHours(1) + TimeSpan.FromSeconds(1));

        var verdict = _pki.Verifier().Verify(authCert.RawData, [_pki.Node.Certificate.RawData]);

        Assert.Equal(RefusalReason.Expired, verdict.Reason);
    }

    [Fact]
    public void BeforeNotBefore_IsNotYetValid()
    {
        using var authCert = _pki.Node.IssueAuthCert(TestPki.NodeAddress, _pki.UserPublicKey, TimeSpan.FromHours(1));
        _pki.Clock.Advance(-TimeSpan.FromMinutes(10));

        var verdict = _pki.Verifier().Verify(authCert.RawData, [_pki.Node.Certificate.RawData]);

        Assert.Equal(RefusalReason.NotYetValid, verdict.Reason);
    }

    [Fact]
    public void SignedByImpostorWithSameName_IsSignatureInvalid()
    {
        using var impostorCert = CertificateAuthority.CreateRoot("node A", TimeSpan.FromDays(1), _pki.Clock);
        using var authCert = impostorCert.IssueAuthCert(TestPki.NodeAddress, _pki.UserPublicKey, TimeSpan.FromHours(1));

        var verdict = _pki.Verifier().Verify(authCert.RawData, [_pki.Node.Certificate.RawData]);

        Assert.Equal(RefusalReason.SignatureInvalid, verdict.Reason);
    }

    [Fact]
    public void SignerWithoutCaFlag_IsNotACertificateAuthority()
    {
        using var sandboxKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var sandbox = _pki.Host.IssueSandboxCertificate(IPAddress.Parse("198.18.3.3"), TestPki.PublicKeyOf(sandboxKey));
        using var sandboxAsCa = new CertificateAuthority(X509CertificateLoader.LoadCertificate(sandbox.Certificate.RawData), sandboxKey, _pki.Clock);
        using var authCert = sandboxAsCa.IssueAuthCert(IPAddress.Parse("198.18.3.3"), _pki.UserPublicKey, TimeSpan.FromMinutes(30));

        var verdict = _pki.Verifier().Verify(authCert.RawData, [sandbox.Certificate.RawData, _pki.Host.Authority.Certificate.RawData]);

        Assert.Equal(RefusalReason.NotACertificateAuthority, verdict.Reason);
    }

    [Fact]
    public void SubCaBelowHostCa_ExceedsPathLengthZero()
    {
        using var subKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var subCert = _pki.Host.Authority.IssueHostCa("sub", TestPki.PublicKeyOf(subKey), [IPNetwork.Parse("198.18.9.0/24")], [], TimeSpan.FromDays(1));
        using var sub = new CertificateAuthority(X509CertificateLoader.LoadCertificate(subCert.RawData), subKey, _pki.Clock);
        using var authCert = sub.IssueAuthCert(IPAddress.Parse("198.18.9.1"), _pki.UserPublicKey, TimeSpan.FromMinutes(30));

        var verdict = _pki.Verifier().Verify(authCert.RawData, [subCert.RawData, _pki.Host.Authority.Certificate.RawData]);

        Assert.Equal(RefusalReason.PathLengthExceeded, verdict.Reason);
    }

    [Fact]
    public void SandboxIdentityCertificate_IsNotAnAuthCert()
    {
        var sandbox = _pki.Host.IssueSandboxCertificate(IPAddress.Parse("198.18.3.3"), _pki.UserPublicKey);

        var verdict = _pki.Verifier().Verify(sandbox.Certificate.RawData, [_pki.Host.Authority.Certificate.RawData]);

        Assert.Equal(RefusalReason.ExtendedKeyUsageMissing, verdict.Reason);
    }

    [Fact]
    public void RootWithSameNameButOtherKey_IsSignatureInvalid()
    {
        using var otherRoot = CertificateAuthority.CreateRoot("Moat test root", TimeSpan.FromDays(1), _pki.Clock);
        using var authCert = _pki.Node.IssueAuthCert(TestPki.NodeAddress, _pki.UserPublicKey, TimeSpan.FromHours(1));
        var verifier = new Moat.Pki.AuthCerts.AuthCertVerifier([otherRoot.Certificate.RawData], _pki.Clock);

        var verdict = verifier.Verify(authCert.RawData, [_pki.Node.Certificate.RawData]);

        Assert.False(verdict.IsOpen);
        Assert.Equal(RefusalReason.SignatureInvalid, verdict.Reason);
    }

    [Fact]
    public void MissingSignerCertificate_HasNoTrustedPath()
    {
        using var authCert = _pki.Node.IssueAuthCert(TestPki.NodeAddress, _pki.UserPublicKey, TimeSpan.FromHours(1));

        var verdict = _pki.Verifier().Verify(authCert.RawData, []);

        Assert.Equal(RefusalReason.NoTrustedPath, verdict.Reason);
    }

    [Fact]
    public void OtherUsersKey_IsUserKeyMismatch()
    {
        using var authCert = _pki.Node.IssueAuthCert(TestPki.NodeAddress, _pki.UserPublicKey, TimeSpan.FromHours(1));
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        var verdict = _pki.Verifier().Verify(authCert.RawData, [_pki.Node.Certificate.RawData], userPublicKey: other.ExportSubjectPublicKeyInfo());

        Assert.Equal(RefusalReason.UserKeyMismatch, verdict.Reason);
    }

    [Theory]
    [InlineData(new byte[] { })]
    [InlineData(new byte[] { 0x30, 0x03, 0x02, 0x01 })]
    [InlineData(new byte[] { 0x2d, 0x2d, 0x2d, 0x2d })]
    public void GarbageDer_IsMalformed(byte[] garbage)
    {
        var verdict = _pki.Verifier().Verify(garbage, [_pki.Node.Certificate.RawData]);

        Assert.Equal(RefusalReason.Malformed, verdict.Reason);
        Assert.StartsWith("The authcert is not a valid X.509 certificate", verdict.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void TamperedAuthCert_IsSignatureInvalid()
    {
        using var authCert = _pki.Node.IssueAuthCert(TestPki.NodeAddress, _pki.UserPublicKey, TimeSpan.FromHours(1));
        var tampered = authCert.RawData.ToArray();
        // Flip one bit of the last signature octet: the structure stays valid, the signature does not.
        tampered[^1] ^= 0x01;

        var verdict = _pki.Verifier().Verify(tampered, [_pki.Node.Certificate.RawData]);

        Assert.Equal(RefusalReason.SignatureInvalid, verdict.Reason);
    }

    private static X509Certificate2 Sign(CertificateRequest request, CertificateAuthority issuer)
    {
        var now = TestPki.Start;
        return request.Create(
            issuer.Certificate.SubjectName,
            X509SignatureGenerator.CreateForECDsa((ECDsa)issuer.PrivateKey),
            now.AddMinutes(-5),
            now.AddDays(1),
            [0x42, 0x01]);
    }
}

public sealed class AuthCertVerifierPemAndIpv6Tests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public void VerifyPem_TakesTheBundleHostAuthorityHandsOut()
    {
        var issued = _pki.Host.IssueAuthCert(IPAddress.Parse("198.18.8.8"), _pki.UserPublicKey);

        var verdict = _pki.Verifier().VerifyPem(issued.ChainPem, IPAddress.Parse("198.18.8.8"));

        Assert.True(verdict.IsOpen, verdict.Explanation);
        Assert.Equal(issued.Serial, verdict.Serial);
    }

    [Fact]
    public void VerifyPem_WithoutCertificates_IsMalformed()
    {
        var verdict = _pki.Verifier().VerifyPem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");

        Assert.Equal(RefusalReason.Malformed, verdict.Reason);
    }

    [Fact]
    public void RsaNode_SignsAuthCertsThatVerify()
    {
        using var rsa = RSA.Create(2048);
        using var nodeCert = _pki.Root.IssueNodeCertificate("rsa node", TestPki.PublicKeyOf(rsa), [IPAddress.Parse("198.18.9.9")], TimeSpan.FromDays(1));
        using var node = new CertificateAuthority(X509CertificateLoader.LoadCertificate(nodeCert.RawData), rsa, _pki.Clock);
        using var authCert = node.IssueAuthCert(IPAddress.Parse("198.18.9.9"), _pki.UserPublicKey, TimeSpan.FromHours(1));

        var verdict = _pki.Verifier().Verify(authCert.RawData, [nodeCert.RawData]);

        Assert.True(verdict.IsOpen, verdict.Explanation);
    }

    [Fact]
    public void WeakRsaNode_IsRefusedForItsKey()
    {
        using var rsa = RSA.Create(1024);
        using var nodeCert = _pki.Root.IssueNodeCertificate("weak node", TestPki.PublicKeyOf(rsa), [IPAddress.Parse("198.18.9.9")], TimeSpan.FromDays(1));
        using var node = new CertificateAuthority(X509CertificateLoader.LoadCertificate(nodeCert.RawData), rsa, _pki.Clock);
        using var authCert = node.IssueAuthCert(IPAddress.Parse("198.18.9.9"), _pki.UserPublicKey, TimeSpan.FromHours(1));

        var verdict = _pki.Verifier().Verify(authCert.RawData, [nodeCert.RawData]);

        Assert.Equal(RefusalReason.PublicKeyNotAllowed, verdict.Reason);
        Assert.Contains("1024 bits", verdict.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void KeyOfAnotherCertificate_IsRefusedWithASentence()
    {
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        var ex = Assert.Throws<PkiInputException>(() => new CertificateAuthority(X509CertificateLoader.LoadCertificate(_pki.Node.Certificate.RawData), other));

        Assert.Contains("does not belong to certificate 'CN=node A'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Ipv6HostCa_CertifiesInsideItsPrefixOnly()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var cert = _pki.Root.IssueHostCa("v6 host", TestPki.PublicKeyOf(key), [IPNetwork.Parse("2001:db8:5::/48")], [], TimeSpan.FromDays(1));
        using var v6 = new CertificateAuthority(X509CertificateLoader.LoadCertificate(cert.RawData), key, _pki.Clock);
        using var inside = v6.IssueAuthCert(IPAddress.Parse("2001:db8:5::9"), _pki.UserPublicKey, TimeSpan.FromHours(1));
        using var outside = v6.IssueAuthCert(IPAddress.Parse("2001:db8:6::9"), _pki.UserPublicKey, TimeSpan.FromHours(1));
        using var v4 = v6.IssueAuthCert(IPAddress.Parse("198.18.1.1"), _pki.UserPublicKey, TimeSpan.FromHours(1));

        Assert.True(_pki.Verifier().Verify(inside.RawData, [cert.RawData]).IsOpen);
        Assert.Equal(RefusalReason.NameConstraintsViolated, _pki.Verifier().Verify(outside.RawData, [cert.RawData]).Reason);
        Assert.Equal(RefusalReason.NameConstraintsViolated, _pki.Verifier().Verify(v4.RawData, [cert.RawData]).Reason);
    }
}

[Trait("Category", "Hostile")]
public sealed class AuthCertTamperingTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Theory]
    [InlineData(0x01)]
    [InlineData(0x80)]
    [InlineData(0xFF)]
    public void EveryOctetChanged_InAuthCertOrSignerCertificate_IsRefusedWithoutThrowing(byte mask)
    {
        using var authCert = _pki.Node.IssueAuthCert(TestPki.NodeAddress, _pki.UserPublicKey, TimeSpan.FromHours(1));
        var verifier = _pki.Verifier();
        var chain = new[] { _pki.Node.Certificate.RawData };

        for (var i = 0; i < authCert.RawData.Length; i++)
        {
            var tampered = authCert.RawData.ToArray();
            tampered[i] ^= mask;

            var verdict = verifier.Verify(tampered, chain);

            Assert.False(verdict.IsOpen, $"octet {i} ^ 0x{mask:X2} still verified");
            Assert.NotEqual(RefusalReason.None, verdict.Reason);
        }

        for (var i = 0; i < chain[0].Length; i++)
        {
            var tampered = chain[0].ToArray();
            tampered[i] ^= mask;

            var verdict = verifier.Verify(authCert.RawData, [tampered]);

            Assert.False(verdict.IsOpen, $"signer certificate octet {i} ^ 0x{mask:X2} still verified");
        }
    }
}
