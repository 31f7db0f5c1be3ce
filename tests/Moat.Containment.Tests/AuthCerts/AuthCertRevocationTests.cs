using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Moat.Containment.AuthCerts;
using Moat.Containment.Tests.Rules;
using Moat.Pki.AuthCerts;
using Moat.Pki.Authority;
using Moat.Pki.Revocation;
using Moat.Pki.Validation;

namespace Moat.Containment.Tests.AuthCerts;

/// <summary>
/// Issue 14 item 9: a CRL issued by the Moat PKI and published while the sandbox's path is open closes that opening in
/// nftables (read live, no restart; the opening is known across an agent restart by its kept certificate), and the
/// same authcert presented again is refused as revoked.
/// </summary>
[Collection("containment-world")]
[Trait("Category", "Integration")]
public sealed class AuthCertRevocationTests : IDisposable
{
    private readonly CertificateAuthority _root = CertificateAuthority.CreateRoot("revocation test root", TimeSpan.FromDays(30));
    private readonly ECDsa _nodeKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa _userKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly HostAuthority _node;
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("moat-crl-");

    public AuthCertRevocationTests()
    {
        var nodeCert = _root.IssueNodeCertificate("node A", PublicKeyOf(_nodeKey), [ContainmentWorld.Internet], TimeSpan.FromDays(10));
        _node = new HostAuthority(new CertificateAuthority(nodeCert, _nodeKey), new IssuanceLedger());
    }

    public void Dispose()
    {
        _node.Dispose();
        _root.Dispose();
        _userKey.Dispose();
        _dir.Delete(recursive: true);
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public async Task A_crl_published_live_closes_the_opening_of_the_revoked_authcert_and_it_cannot_be_presented_again()
    {
        using var world = new ContainmentWorld();
        var sandbox = world.AddSandbox("mallory");
        var id = sandbox.Sandbox.Id;
        world.Rules.Reconcile([sandbox.Sandbox]);
        var crlFolder = Directory.CreateDirectory(Path.Combine(_dir.FullName, "crls")).FullName;
        await PublishAsync(crlFolder);

        var openings = Path.Combine(_dir.FullName, "openings");
        var issued = _node.IssueAuthCert(ContainmentWorld.Internet, PublicKeyOf(_userKey));
        var (before, beforeVerifier) = Revocation(world, crlFolder, openings);
        using (before)
        {
            var verdict = new AuthCertOpener(beforeVerifier, world.Rules).Open(id, issued.ChainPem, Proof(id, issued.ChainPem));
            Assert.True(verdict.IsOpen, verdict.Explanation);
            before.Record(id, verdict.Address!, issued.ChainPem);
        }

        Assert.True(await Probe.TcpAsync(sandbox.Namespace, ContainmentWorld.Internet, 80));
        Assert.Single(Openings(await world.ListTableAsync(), id));

        // The agent restarts: the opening is still known by the certificate kept for it.
        var restarted = Revocation(world, crlFolder, openings);
        using var revocation = restarted.Revocation;
        var verifier = restarted.Verifier;
        var opener = new AuthCertOpener(verifier, world.Rules);
        var closedLive = new TaskCompletionSource<IReadOnlyList<(string SandboxId, IPAddress Address)>>(TaskCreationOptions.RunContinuationsAsynchronously);
        revocation.Reloaded += closed =>
        {
            if (closed.Count > 0)
            {
                closedLive.TrySetResult(closed);
            }
        };
        Assert.Single(Openings(await world.ListTableAsync(), id));

        // The CA revokes it and publishes a new CRL beside the old one's name (written aside, then moved in place).
        Assert.Equal(1, _node.RevokeAddress(ContainmentWorld.Internet));
        await PublishAsync(crlFolder);

        var closed = await closedLive.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal([(id, ContainmentWorld.Internet)], closed);
        Assert.Empty(Openings(await world.ListTableAsync(), id));
        Assert.False(await Probe.TcpAsync(sandbox.Namespace, ContainmentWorld.Internet, 80));

        var again = opener.Open(id, issued.ChainPem, Proof(id, issued.ChainPem));
        Assert.False(again.IsOpen);
        Assert.Equal(RefusalReason.Revoked, again.Reason);
        Assert.Empty(Openings(await world.ListTableAsync(), id));
    }

    private (AuthCertRevocation Revocation, AuthCertVerifier Verifier) Revocation(ContainmentWorld world, string crlFolder, string openings)
    {
        var crls = new CrlStore();
        var revocation = new AuthCertRevocation(new AuthCertRevocationOptions(crls, crlFolder, openings), world.Rules);
        var verifier = new AuthCertVerifier([_root.Certificate.RawData], crls: crls);
        revocation.Start(verifier);
        return (revocation, verifier);
    }

    private async Task PublishAsync(string folder)
    {
        var temp = Path.Combine(folder, ".node.crl.tmp");
        await File.WriteAllBytesAsync(temp, _node.BuildCrl());
        File.Move(temp, Path.Combine(folder, "node.crl"), overwrite: true);
    }

    private static List<JsonElement> Openings(JsonDocument table, string id) =>
        ContainmentWorld.Items(table, "set").Single(s => s.GetProperty("name").GetString() == "ca_" + id) is var set && set.TryGetProperty("elem", out var elem)
            ? [.. elem.EnumerateArray()]
            : [];

    private PossessionProof Proof(string context, string pem) => PossessionProof.ForAuthCert(_userKey, context, pem, DateTimeOffset.UtcNow);

    private static PublicKey PublicKeyOf(AsymmetricAlgorithm key) => PublicKey.CreateFromSubjectPublicKeyInfo(key.ExportSubjectPublicKeyInfo(), out _);
}
