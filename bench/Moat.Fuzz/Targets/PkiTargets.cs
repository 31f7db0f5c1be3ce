using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Moat.Fuzz.Engine;
using Moat.Pki;
using Moat.Pki.Revocation;
using Moat.Pki.Validation;

namespace Moat.Fuzz.Targets;

/// <summary>X.509 certificates and CRLs, the DER Moat decodes itself before any signature is checked.</summary>
internal static class PkiTargets
{
    public static FuzzTarget Certificate() => new()
    {
        Name = "x509",
        Parser = "ParsedCertificate.TryParse",
        Seeds = () => [.. LimboCertificates(), .. BuiltInCertificates()],
        Run = input => _ = ParsedCertificate.TryParse(input, out _, out _),
    };

    public static FuzzTarget Crl() => new()
    {
        Name = "crl",
        Parser = "RevocationList.Parse",
        Seeds = BuiltInCrls,
        Expected = e => e is PkiInputException,
        Run = input => _ = RevocationList.Parse(input),
    };

    /// <summary>Every certificate of the x509-limbo suite (trusted, intermediate and peer), as DER.</summary>
    private static IEnumerable<byte[]> LimboCertificates()
    {
        foreach (byte[] file in SeedFiles.Read("limbo-committed-2023-12-02.json"))
        {
            using var doc = JsonDocument.Parse(file);
            foreach (var test in doc.RootElement.GetProperty("testcases").EnumerateArray().Take(400))
            {
                foreach (string field in new[] { "trusted_certs", "untrusted_intermediates" })
                {
                    if (test.TryGetProperty(field, out var list) && list.ValueKind == JsonValueKind.Array)
                    {
                        foreach (var pem in list.EnumerateArray())
                        {
                            yield return FromPem(pem.GetString()!);
                        }
                    }
                }

                if (test.TryGetProperty("peer_certificate", out var peer) && peer.ValueKind == JsonValueKind.String)
                {
                    yield return FromPem(peer.GetString()!);
                }
            }
        }
    }

    private static byte[] FromPem(string pem) => PemEncoding.TryFind(pem, out var fields)
        ? Convert.FromBase64String(pem[fields.Base64Data])
        : [];

    private static IEnumerable<byte[]> BuiltInCertificates()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=moat fuzz root", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 1, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(System.Net.IPAddress.Parse("198.18.1.5"));
        san.AddDnsName("node.moat");
        request.CertificateExtensions.Add(san.Build());
        using var cert = request.CreateSelfSigned(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2027, 1, 1, 0, 0, 0, TimeSpan.Zero));
        yield return cert.RawData;
    }

    private static IReadOnlyList<byte[]> BuiltInCrls()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=moat fuzz ca", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var thisUpdate = new DateTimeOffset(2026, 11, 22, 6, 0, 0, TimeSpan.Zero);
        using var ca = request.CreateSelfSigned(thisUpdate.AddDays(-1), thisUpdate.AddYears(1));
        var crls = new List<byte[]>();
        foreach (int revoked in new[] { 0, 1, 5 })
        {
            var builder = new CertificateRevocationListBuilder();
            for (int i = 0; i < revoked; i++)
            {
                builder.AddEntry([(byte)(i + 1), 0x42, 0x17], thisUpdate.AddHours(-i), i % 2 == 0 ? X509RevocationReason.KeyCompromise : null);
            }

            crls.Add(builder.Build(ca, new BigInteger(revoked + 1), thisUpdate.AddDays(7), HashAlgorithmName.SHA256, thisUpdate: thisUpdate));
        }

        return crls;
    }
}
