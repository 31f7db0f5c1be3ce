using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Moat.Containment.AuthCerts;
using Moat.Containment.Tests.Rules;
using Moat.Pki.AuthCerts;
using Moat.Pki.Authority;
using Moat.Pki.Validation;

namespace Moat.Containment.Tests.AuthCerts;

/// <summary>
/// `sandbox allow --authcert` against real rules: a valid authcert opens exactly its node to an untrusted sandbox
/// until notAfter; lying, expired, wrongly signed or out-of-constraint certificates are refused and change nothing.
/// </summary>
[Trait("Category", "Integration")]
[Collection("containment-world")]
public sealed class AuthCertOpenerTests : IDisposable
{
    private readonly CertificateAuthority _root = CertificateAuthority.CreateRoot("containment test root", TimeSpan.FromDays(30));
    private readonly ECDsa _nodeKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa _userKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly CertificateAuthority _node;

    public AuthCertOpenerTests()
    {
        // Node A is the "internet" host of the world, bound to its address by the root.
        var nodeCert = _root.IssueNodeCertificate("node A", PublicKeyOf(_nodeKey), [ContainmentWorld.Internet], TimeSpan.FromDays(10));
        _node = new CertificateAuthority(nodeCert, _nodeKey);
    }

    public void Dispose()
    {
        _node.Dispose();
        _root.Dispose();
        _userKey.Dispose();
    }

    [Fact]
    public async Task ValidAuthCert_OpensExactlyThatNode_ToTheUntrustedSandbox()
    {
        using var world = new ContainmentWorld();
        var sandbox = world.AddSandbox("mallory");
        world.Rules.Reconcile([sandbox.Sandbox]);
        Assert.False(await Probe.TcpAsync(sandbox.Namespace, ContainmentWorld.Internet, 80));
        using var authCert = _node.IssueAuthCert(ContainmentWorld.Internet, PublicKeyOf(_userKey), TimeSpan.FromHours(1));

        var pem = Pem(authCert, _node.Certificate);

        var verdict = Opener(world).Open(sandbox.Sandbox.Id, pem, Proof(sandbox.Sandbox.Id, pem));

        Assert.True(verdict.IsOpen, verdict.Explanation);
        Assert.True(await Probe.TcpAsync(sandbox.Namespace, ContainmentWorld.Internet, 80));
        Assert.True(await Probe.UdpAsync(sandbox.Namespace, ContainmentWorld.Internet, 5000));
        Assert.False(await Probe.TcpAsync(sandbox.Namespace, ContainmentWorld.Victim, 80));
        Assert.False(await Probe.TcpAsync(sandbox.Namespace, ContainmentWorld.Internet, 25));
    }

    [Fact]
    public async Task RefusedAuthCerts_ChangeNothing()
    {
        using var world = new ContainmentWorld();
        var sandbox = world.AddSandbox("mallory");
        world.Rules.Reconcile([sandbox.Sandbox]);
        var before = (await world.ListTableAsync()).RootElement.GetRawText();
        var user = PublicKeyOf(_userKey);

        // Lying: node A signs for the victim's address, outside what the root bound to its key.
        using var lying = _node.IssueAuthCert(ContainmentWorld.Victim, user, TimeSpan.FromHours(1));

        // Expired: issued by a node whose clock is two hours behind, valid for one hour.
        using var oldNode = new CertificateAuthority(_node.Certificate, _nodeKey, new ShiftedClock(TimeSpan.FromHours(-2)));
        using var expired = oldNode.IssueAuthCert(ContainmentWorld.Internet, user, TimeSpan.FromHours(1));

        // Wrongly signed: a node certificate for the right address from a root this host does not trust.
        using var otherRoot = CertificateAuthority.CreateRoot("someone else's root", TimeSpan.FromDays(30));
        using var impostorKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var impostor = new CertificateAuthority(otherRoot.IssueNodeCertificate("impostor", PublicKeyOf(impostorKey), [ContainmentWorld.Internet], TimeSpan.FromDays(1)), impostorKey);
        using var wrongSigner = impostor.IssueAuthCert(ContainmentWorld.Internet, user, TimeSpan.FromHours(1));

        // Outside constraints: a host CA for 198.18.100.0/24 certifying an address outside it.
        using var hostKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var hostCa = new CertificateAuthority(_root.IssueHostCa("host S", PublicKeyOf(hostKey), [IPNetwork.Parse("198.18.100.0/24")], [IPAddress.Parse("198.18.0.1")], TimeSpan.FromDays(1)), hostKey);
        using var outside = hostCa.IssueAuthCert(ContainmentWorld.Internet, user, TimeSpan.FromHours(1));

        // For another user's key.
        using var otherUser = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var notYours = _node.IssueAuthCert(ContainmentWorld.Internet, PublicKeyOf(otherUser), TimeSpan.FromHours(1));

        var cases = new (string Name, string Pem)[]
        {
            ("lying", Pem(lying, _node.Certificate)),
            ("expired", Pem(expired, _node.Certificate)),
            ("wrongly signed", Pem(wrongSigner, impostor.Certificate)),
            ("outside constraints", Pem(outside, hostCa.Certificate)),
            ("another user's", Pem(notYours, _node.Certificate)),
            ("garbage", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        };
        foreach (var (name, pem) in cases)
        {
            // The user's own key signs the proof: each is refused for what is wrong with the certificate (or, for
            // another user's authcert, because the proof is not by the key it names).
            var proof = name == "garbage" ? null : Proof(sandbox.Sandbox.Id, pem);
            var verdict = Opener(world).Open(sandbox.Sandbox.Id, pem, proof);
            Assert.False(verdict.IsOpen, $"the {name} authcert was accepted: {verdict.Explanation}");
            Assert.False(string.IsNullOrWhiteSpace(verdict.Explanation));
        }

        Assert.Equal(RefusalReason.PossessionNotProven, Opener(world).Open(sandbox.Sandbox.Id, Pem(notYours, _node.Certificate), Proof(sandbox.Sandbox.Id, Pem(notYours, _node.Certificate))).Reason);

        // A valid authcert with no proof, a proof for another sandbox, a stale proof, or a forged one (another key's
        // signature): a copied authcert opens nothing.
        using var valid = _node.IssueAuthCert(ContainmentWorld.Internet, user, TimeSpan.FromHours(1));
        var validPem = Pem(valid, _node.Certificate);
        var forged = PossessionProof.ForAuthCert(otherUser, sandbox.Sandbox.Id, validPem, DateTimeOffset.UtcNow);
        var proofs = new (string Name, PossessionProof? Proof)[]
        {
            ("no", null),
            ("another sandbox's", Proof("someoneelse", validPem)),
            ("a stale", PossessionProof.ForAuthCert(_userKey, sandbox.Sandbox.Id, validPem, DateTimeOffset.UtcNow - TimeSpan.FromMinutes(10))),
            ("a forged", forged),
            ("a tampered", Proof(sandbox.Sandbox.Id, validPem) with { SignedAt = DateTimeOffset.UtcNow.AddSeconds(-30) }),
        };
        foreach (var (name, proof) in proofs)
        {
            var verdict = Opener(world).Open(sandbox.Sandbox.Id, validPem, proof);
            Assert.False(verdict.IsOpen, $"{name} proof was accepted");
            Assert.Equal(RefusalReason.PossessionNotProven, verdict.Reason);
        }

        Assert.Equal(before, (await world.ListTableAsync()).RootElement.GetRawText());
        Assert.False(await Probe.TcpAsync(sandbox.Namespace, ContainmentWorld.Internet, 80));
    }

    [Fact]
    public async Task Opening_EndsAtTheCertificatesNotAfter()
    {
        using var world = new ContainmentWorld();
        var sandbox = world.AddSandbox("mallory");
        world.Rules.Reconcile([sandbox.Sandbox]);
        using var shortLived = _node.IssueAuthCert(ContainmentWorld.Internet, PublicKeyOf(_userKey), TimeSpan.FromSeconds(3));

        var pem = Pem(shortLived, _node.Certificate);
        var verdict = Opener(world).Open(sandbox.Sandbox.Id, pem, Proof(sandbox.Sandbox.Id, pem));
        Assert.True(verdict.IsOpen, verdict.Explanation);
        Assert.True(await Probe.TcpAsync(sandbox.Namespace, ContainmentWorld.Internet, 80));

        var deadline = verdict.ValidUntil!.Value + TimeSpan.FromSeconds(10);
        while (await Probe.TcpAsync(sandbox.Namespace, ContainmentWorld.Internet, 80))
        {
            Assert.True(DateTimeOffset.UtcNow < deadline, "the opening outlived its certificate by more than 10 s");
        }

        Assert.True(DateTimeOffset.UtcNow >= verdict.ValidUntil!.Value - TimeSpan.FromSeconds(1), "the opening closed before notAfter");
    }

    private PossessionProof Proof(string context, string pem) => PossessionProof.ForAuthCert(_userKey, context, pem, DateTimeOffset.UtcNow);

    private AuthCertOpener Opener(ContainmentWorld world) => new(new AuthCertVerifier([_root.Certificate.RawData]), world.Rules);

    private static string Pem(params X509Certificate2[] certificates) => string.Concat(certificates.Select(c => c.ExportCertificatePem() + "\n"));

    private static PublicKey PublicKeyOf(AsymmetricAlgorithm key) => PublicKey.CreateFromSubjectPublicKeyInfo(key.ExportSubjectPublicKeyInfo(), out _);

    private sealed class ShiftedClock(TimeSpan shift) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + shift;
    }
}
