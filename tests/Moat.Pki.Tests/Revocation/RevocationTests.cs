using System.Net;
using System.Security.Cryptography;
using Moat.Pki.Authority;
using Moat.Pki.Revocation;
using Moat.Pki.Validation;

namespace Moat.Pki.Tests.Revocation;

public sealed class RevocationTests : IDisposable
{
    private static readonly IPAddress s_destroyed = IPAddress.Parse("198.18.2.1");
    private static readonly IPAddress s_alive = IPAddress.Parse("198.18.2.2");
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public void RevokeAddress_StopsEveryCertificateForThatAddressOnly()
    {
        var first = _pki.Host.IssueAuthCert(s_destroyed, _pki.UserPublicKey);
        var second = _pki.Host.IssueAuthCert(s_destroyed, _pki.UserPublicKey, TimeSpan.FromMinutes(10));
        var other = _pki.Host.IssueAuthCert(s_alive, _pki.UserPublicKey);

        var revoked = _pki.Host.RevokeAddress(s_destroyed);
        var crls = new CrlStore();
        crls.Add(_pki.Host.BuildCrl());
        var verifier = _pki.Verifier(crls);
        var hostChain = new[] { _pki.Host.Authority.Certificate.RawData };

        Assert.Equal(2, revoked);
        Assert.Equal(RefusalReason.Revoked, verifier.Verify(first.Certificate.RawData, hostChain).Reason);
        Assert.Equal(RefusalReason.Revoked, verifier.Verify(second.Certificate.RawData, hostChain).Reason);
        Assert.True(verifier.Verify(other.Certificate.RawData, hostChain).IsOpen);
    }

    [Fact]
    public void BeforeRevocation_TheSameCrlMachineryLetsItThrough()
    {
        var issued = _pki.Host.IssueAuthCert(s_destroyed, _pki.UserPublicKey);
        var crls = new CrlStore();
        crls.Add(_pki.Host.BuildCrl());

        var verdict = _pki.Verifier(crls).Verify(issued.Certificate.RawData, [_pki.Host.Authority.Certificate.RawData]);

        Assert.True(verdict.IsOpen, verdict.Explanation);
    }

    [Fact]
    public void StaleCrl_MakesRevocationStatusUnknown()
    {
        var issued = _pki.Host.IssueAuthCert(s_alive, _pki.UserPublicKey, TimeSpan.FromHours(3));
        var crls = new CrlStore();
        crls.Add(_pki.Host.BuildCrl(TimeSpan.FromMinutes(30)));
        _pki.Clock.Advance(TimeSpan.FromMinutes(31));

        var verdict = _pki.Verifier(crls).Verify(issued.Certificate.RawData, [_pki.Host.Authority.Certificate.RawData]);

        Assert.Equal(RefusalReason.RevocationStatusUnknown, verdict.Reason);
    }

    [Fact]
    public void CrlSignedByImpostorWithTheHostsName_IsNotTrusted()
    {
        var issued = _pki.Host.IssueAuthCert(s_alive, _pki.UserPublicKey);
        using var impostorKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var impostorCert = _pki.Root.IssueHostCa("host S", TestPki.PublicKeyOf(impostorKey), [TestPki.HostPrefix], [], TimeSpan.FromDays(1));
        using var impostor = new HostAuthority(new CertificateAuthority(impostorCert, impostorKey, _pki.Clock), new IssuanceLedger(), _pki.Clock);
        var crls = new CrlStore();
        crls.Add(impostor.BuildCrl());

        var verdict = _pki.Verifier(crls).Verify(issued.Certificate.RawData, [_pki.Host.Authority.Certificate.RawData]);

        Assert.Equal(RefusalReason.RevocationStatusUnknown, verdict.Reason);
    }

    [Fact]
    public void RootRevokingAHostCa_StopsItsAuthCerts()
    {
        var issued = _pki.Host.IssueAuthCert(s_alive, _pki.UserPublicKey);
        var rootAuthority = new HostAuthority(_pki.Root, new IssuanceLedger(), _pki.Clock);
        rootAuthority.Ledger.Record(_pki.Host.Authority.Certificate.SerialNumber, "host-ca", null, TestPki.Start.AddDays(30));
        rootAuthority.Ledger.RevokeSerial(_pki.Host.Authority.Certificate.SerialNumber, _pki.Clock.GetUtcNow());
        var crls = new CrlStore();
        crls.Add(rootAuthority.BuildCrl());

        var verdict = _pki.Verifier(crls).Verify(issued.Certificate.RawData, [_pki.Host.Authority.Certificate.RawData]);

        Assert.Equal(RefusalReason.Revoked, verdict.Reason);
        Assert.Contains("host S", verdict.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public void ExpiredRevokedCertificates_LeaveTheCrl()
    {
        _pki.Host.IssueAuthCert(s_destroyed, _pki.UserPublicKey, TimeSpan.FromMinutes(10));
        _pki.Host.RevokeAddress(s_destroyed);
        _pki.Clock.Advance(TimeSpan.FromMinutes(11));

        var crl = RevocationList.Parse(_pki.Host.BuildCrl());

        Assert.Equal(0, crl.Count);
    }

    [Fact]
    public async Task Ledger_SurvivesSaveAndLoad()
    {
        var path = Path.Combine(Path.GetTempPath(), $"moat-pki-ledger-{Guid.NewGuid():N}.json");
        try
        {
            _pki.Host.IssueAuthCert(s_destroyed, _pki.UserPublicKey);
            _pki.Host.RevokeAddress(s_destroyed);
            _pki.Host.BuildCrl();
            await _pki.Host.Ledger.SaveAsync(path);

            var loaded = await IssuanceLedger.LoadAsync(path);

            Assert.Equal(1, loaded.CrlNumber);
            var entry = Assert.Single(loaded.Entries);
            Assert.Equal("198.18.2.1", entry.Address);
            Assert.NotNull(entry.RevokedAt);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void EveryOctetOfTheCrlChanged_IsRefusedAtLoadOrMakesTheHostsStatusUnknown()
    {
        var issued = _pki.Host.IssueAuthCert(s_alive, _pki.UserPublicKey);
        _pki.Host.IssueAuthCert(s_destroyed, _pki.UserPublicKey);
        _pki.Host.RevokeAddress(s_destroyed);
        var crl = _pki.Host.BuildCrl();
        var hostChain = new[] { _pki.Host.Authority.Certificate.RawData };

        for (var i = 0; i < crl.Length; i++)
        {
            var tampered = crl.ToArray();
            tampered[i] ^= 0x01;
            var crls = new CrlStore();
            try
            {
                crls.Add(tampered);
            }
            catch (PkiInputException)
            {
                continue;
            }

            if (!RevocationList.Parse(tampered).Issuer.Span.SequenceEqual(_pki.Host.Authority.Certificate.SubjectName.RawData))
            {
                // The change hit the issuer name: it is now some other CA's list, which this path never consults.
                continue;
            }

            var verdict = _pki.Verifier(crls).Verify(issued.Certificate.RawData, hostChain);

            Assert.True(verdict.Reason is RefusalReason.RevocationStatusUnknown, $"octet {i}: {verdict.Reason} {verdict.Explanation}");
        }
    }

    [Fact]
    public void ACrlWhoseSignatureDeclaresUnusedBits_IsRefused()
    {
        // The signature is the last element; its BIT STRING's first content octet counts the unused bits. A count
        // that only covers zero bits is valid DER, so it must be refused by the CRL reader itself. ECDSA signatures
        // are randomised: rebuild until the last signature octet ends in a zero bit (half of them do).
        byte[] crl;
        var attempts = 0;
        do
        {
            crl = _pki.Host.BuildCrl();
            Assert.True(++attempts < 64, "no signature ending in a zero bit in 64 builds");
        }
        while ((crl[^1] & 0x01) != 0);

        var signatureLength = SignatureLength(crl);
        var unusedOctet = crl.Length - signatureLength - 1;
        Assert.Equal(0, crl[unusedOctet]);
        crl[unusedOctet] = 1;

        var ex = Assert.Throws<PkiInputException>(() => new CrlStore().Add(crl));
        Assert.Contains("unused bits", ex.Message, StringComparison.Ordinal);
    }

    private static int SignatureLength(byte[] crl)
    {
        var outer = new System.Formats.Asn1.AsnReader(crl, System.Formats.Asn1.AsnEncodingRules.DER).ReadSequence();
        outer.ReadEncodedValue();
        outer.ReadEncodedValue();
        return outer.ReadBitString(out _).Length;
    }

    [Fact]
    public void GarbageCrl_IsRefusedWithASentence()
    {
        var ex = Assert.Throws<PkiInputException>(() => new CrlStore().Add([0x30, 0x01, 0x00]));

        Assert.Contains("not a DER X.509 CRL", ex.Message, StringComparison.Ordinal);
    }
}
