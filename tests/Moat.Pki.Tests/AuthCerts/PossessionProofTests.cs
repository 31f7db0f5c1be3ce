using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Moat.Pki.AuthCerts;
using Moat.Pki.Validation;

namespace Moat.Pki.Tests.AuthCerts;

/// <summary>The presenter of an authcert proves it holds the user key the authcert names: ECDSA and RSA user keys,
/// the verifier's clock deciding staleness, and every way the proof can be wrong giving PossessionNotProven.</summary>
public sealed class PossessionProofTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Theory]
    [InlineData("ecdsa")]
    [InlineData("rsa")]
    public void A_proof_by_the_user_key_opens_and_any_other_does_not(string kind)
    {
        using AsymmetricAlgorithm user = kind == "ecdsa" ? ECDsa.Create(ECCurve.NamedCurves.nistP256) : RSA.Create(2048);
        using AsymmetricAlgorithm other = kind == "ecdsa" ? ECDsa.Create(ECCurve.NamedCurves.nistP256) : RSA.Create(2048);
        using var authCert = _pki.Node.IssueAuthCert(TestPki.NodeAddress, TestPki.PublicKeyOf(user), TimeSpan.FromHours(1));
        var pem = authCert.ExportCertificatePem() + "\n" + _pki.Node.Certificate.ExportCertificatePem() + "\n";
        var now = _pki.Clock.GetUtcNow();

        var good = PossessionProof.ForAuthCert(user, "sbx1", pem, now);
        Assert.True(Verify(pem, "sbx1", good).IsOpen);

        Assert.Equal(RefusalReason.PossessionNotProven, Verify(pem, "sbx1", null).Reason);
        Assert.Equal(RefusalReason.PossessionNotProven, Verify(pem, "sbx2", good).Reason);
        Assert.Equal(RefusalReason.PossessionNotProven, Verify(pem, "sbx1", PossessionProof.ForAuthCert(other, "sbx1", pem, now)).Reason);
        Assert.Equal(RefusalReason.PossessionNotProven, Verify(pem, "sbx1", good with { Signature = [.. good.Signature.Take(good.Signature.Length - 1), (byte)(good.Signature[^1] ^ 1)] }).Reason);

        // Within the skew either way it holds; beyond it, refused with the times named.
        Assert.True(Verify(pem, "sbx1", PossessionProof.ForAuthCert(user, "sbx1", pem, now - PossessionProof.MaxSkew + TimeSpan.FromSeconds(5))).IsOpen);
        var stale = Verify(pem, "sbx1", PossessionProof.ForAuthCert(user, "sbx1", pem, now - PossessionProof.MaxSkew - TimeSpan.FromSeconds(5)));
        Assert.Equal(RefusalReason.PossessionNotProven, stale.Reason);
        Assert.Contains("minutes", stale.Explanation, StringComparison.Ordinal);
        Assert.False(Verify(pem, "sbx1", PossessionProof.ForAuthCert(user, "sbx1", pem, now + PossessionProof.MaxSkew + TimeSpan.FromSeconds(5))).IsOpen);
    }

    [Fact]
    public void A_refused_authcert_is_refused_for_its_own_fault_whatever_the_proof()
    {
        using var authCert = _pki.Node.IssueAuthCert(TestPki.NodeAddress, _pki.UserPublicKey, TimeSpan.FromHours(1));
        var pemWithoutChain = authCert.ExportCertificatePem() + "\n";
        var proof = PossessionProof.ForAuthCert(_pki.UserKey, "sbx1", pemWithoutChain, _pki.Clock.GetUtcNow());
        Assert.Equal(RefusalReason.NoTrustedPath, Verify(pemWithoutChain, "sbx1", proof).Reason);
        Assert.Throws<PkiException>(() => PossessionProof.ForAuthCert(_pki.UserKey, "sbx1", "not a certificate", _pki.Clock.GetUtcNow()));
    }

    private AuthCertVerdict Verify(string pem, string context, PossessionProof? proof) =>
        _pki.Verifier().VerifyPem(pem, null, null, new PossessionRequirement(context, proof));
}
