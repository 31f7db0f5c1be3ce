using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Moat.Pki.Authority;
using Moat.Pki.Storage;

namespace Moat.Pki.Tests.Integration;

/// <summary>A peer validator (the openssl CLI) accepts what Moat issues and refuses a host CA certifying outside its prefix.</summary>
[Trait("Category", "Integration")]
public sealed class OpenSslInteropTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("moat-pki-openssl-").FullName;
    private readonly TestPki _pki = new();

    public void Dispose()
    {
        _pki.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task OpenSsl_AcceptsHostAuthCertInsidePrefix_AndRefusesOutside()
    {
        // openssl checks validity against the real clock, so these certificates are issued at the real time.
        using var root = CertificateAuthority.CreateRoot("interop root", TimeSpan.FromDays(1));
        using var hostKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var hostCert = root.IssueHostCa("interop host", TestPki.PublicKeyOf(hostKey), [TestPki.HostPrefix], [], TimeSpan.FromHours(2));
        using var host = new CertificateAuthority(
            X509CertificateLoader.LoadCertificate(hostCert.RawData), hostKey);
        using var inside = host.IssueAuthCert(IPAddress.Parse("198.18.1.5"), _pki.UserPublicKey, TimeSpan.FromHours(1));
        using var outside = host.IssueAuthCert(IPAddress.Parse("10.1.1.1"), _pki.UserPublicKey, TimeSpan.FromHours(1));
        await PemFiles.WriteCertificatesAsync(P("root.pem"), [root.Certificate.RawData]);
        await PemFiles.WriteCertificatesAsync(P("host.pem"), [hostCert.RawData]);
        await PemFiles.WriteCertificatesAsync(P("inside.pem"), [inside.RawData]);
        await PemFiles.WriteCertificatesAsync(P("outside.pem"), [outside.RawData]);

        var accepted = await OpenSslVerifyAsync("inside.pem");
        var refused = await OpenSslVerifyAsync("outside.pem");

        Assert.True(accepted.Code == 0, accepted.Output);
        Assert.NotEqual(0, refused.Code);
        Assert.Contains("permitted subtree violation", refused.Output, StringComparison.Ordinal);
    }

    private string P(string name) => Path.Combine(_dir, name);

    private async Task<(int Code, string Output)> OpenSslVerifyAsync(string leaf)
    {
        var start = new ProcessStartInfo("openssl")
        {
            ArgumentList = { "verify", "-purpose", "any", "-CAfile", P("root.pem"), "-untrusted", P("host.pem"), P(leaf) },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException("openssl did not start");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }
}
