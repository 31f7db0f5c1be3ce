using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Moat.Pki.AuthCerts;
using Moat.Pki.Authority;
using Moat.Pki.Revocation;

// Macro benchmark for Moat.Pki: authcert verification throughput over a 3-level chain
// (root -> host CA -> authcert) and issue latency, each beside its floor and a peer measured in the same run.
// Usage: dotnet run -c Release --project bench/Moat.Pki.Bench [-- seconds-per-row]
// Verification rows run in 10 interleaved rounds and report the median round.
var seconds = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 3.0;
var budget = TimeSpan.FromSeconds(seconds);

using var root = CertificateAuthority.CreateRoot("bench root", TimeSpan.FromDays(30));
using var hostKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
var hostCert = root.IssueHostCa("bench host", PublicKey.CreateFromSubjectPublicKeyInfo(hostKey.ExportSubjectPublicKeyInfo(), out _),
    [IPNetwork.Parse("198.18.0.0/16")], [], TimeSpan.FromDays(10));
using var host = new HostAuthority(new CertificateAuthority(hostCert, hostKey), new IssuanceLedger());
using var userKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
var userPublic = PublicKey.CreateFromSubjectPublicKeyInfo(userKey.ExportSubjectPublicKeyInfo(), out _);
var address = IPAddress.Parse("198.18.1.5");
var authCert = host.IssueAuthCert(address, userPublic).Certificate;

var verifier = new AuthCertVerifier([root.Certificate.RawData]);
var crls = new CrlStore();
crls.Add(host.BuildCrl());
var verifierWithCrl = new AuthCertVerifier([root.Certificate.RawData], crls: crls);
byte[][] chain = [hostCert.RawData];

if (!verifier.Verify(authCert.RawData, chain, address).IsOpen || !verifierWithCrl.Verify(authCert.RawData, chain, address).IsOpen)
{
    throw new InvalidOperationException("the benchmark chain does not verify");
}

var rows = new List<string[]>();

Func<bool> moatOp = () => verifier.Verify(authCert.RawData, chain, address).IsOpen;
Func<bool> moatCrlOp = () => verifierWithCrl.Verify(authCert.RawData, chain, address).IsOpen;

// Peer: X509Chain (OpenSSL underneath) on the same chain, plus the IP SAN comparison it does not do itself.
using var rootForChain = X509CertificateLoader.LoadCertificate(root.Certificate.RawData);
using var hostForChain = X509CertificateLoader.LoadCertificate(hostCert.RawData);
Func<bool> peerOp = () =>
{
    using var leaf = X509CertificateLoader.LoadCertificate(authCert.RawData);
    using var x509 = new X509Chain();
    x509.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
    x509.ChainPolicy.CustomTrustStore.Add(rootForChain);
    x509.ChainPolicy.ExtraStore.Add(hostForChain);
    x509.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
    x509.ChainPolicy.DisableCertificateDownloads = true;
    return x509.Build(leaf)
        && leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single().EnumerateIPAddresses().Contains(address);
};

// Floor: the two ECDSA P-256 signature checks any validator of this chain must make, keys already imported.
using var rootPublic = root.Certificate.GetECDsaPublicKey()!;
using var hostPublic = hostForChain.GetECDsaPublicKey()!;
var (hostTbs, hostSig) = TbsAndSignature(hostCert.RawData);
var (leafTbs, leafSig) = TbsAndSignature(authCert.RawData);
Func<bool> floorOp = () =>
    rootPublic.VerifyData(hostTbs, hostSig, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence)
    && hostPublic.VerifyData(leafTbs, leafSig, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);

// The machine is shared, so the four rows are measured in interleaved rounds and each reports its median round:
// a burst of load then hits every row alike instead of whichever happened to run at that moment.
var rates = Interleaved(budget, [moatOp, moatCrlOp, peerOp, floorOp]);
var (moat, moatCrl, peer, floor) = (rates[0], rates[1], rates[2], rates[3]);


rows.Add(["verify authcert, 3-level chain (Moat AuthCertVerifier)", Rate(moat), "per verification"]);
rows.Add(["verify authcert + host CRL check (Moat)", Rate(moatCrl), "per verification"]);
rows.Add(["peer: X509Chain.Build (OpenSSL) + IP SAN check, same chain", Rate(peer), "per verification"]);
rows.Add(["floor: 2 ECDSA P-256 verifications (keys pre-imported)", Rate(floor), "per verification"]);

var issue = Latency(budget, () => host.IssueAuthCert(address, userPublic).Certificate.Dispose());
var sign = Latency(budget, () => hostKey.SignData(leafTbs, HashAlgorithmName.SHA256));
rows.Add(["issue authcert (HostAuthority.IssueAuthCert)", $"p50 {issue.P50:F1} µs, p99 {issue.P99:F1} µs", $"{issue.Count} issues"]);
rows.Add(["floor: 1 ECDSA P-256 signature", $"p50 {sign.P50:F1} µs, p99 {sign.P99:F1} µs", $"{sign.Count} signatures"]);

Console.WriteLine($"Moat.Pki macro benchmark, {Environment.ProcessorCount} cores, {seconds.ToString(CultureInfo.InvariantCulture)} s per row, {DateTimeOffset.UtcNow:yyyy-MM-dd}");
Console.WriteLine();
Console.WriteLine("| operation | result | unit |");
Console.WriteLine("|---|---|---|");
foreach (var row in rows)
{
    Console.WriteLine($"| {row[0]} | {row[1]} | {row[2]} |");
}

static string Rate(double perSecond) =>
    $"{perSecond.ToString("N0", CultureInfo.InvariantCulture)} /s ({(1e6 / perSecond).ToString("F1", CultureInfo.InvariantCulture)} µs)";

static double[] Interleaved(TimeSpan budget, Func<bool>[] operations)
{
    const int rounds = 10;
    var perRound = budget / rounds;
    var samples = operations.Select(_ => new List<double>()).ToArray();
    for (var round = 0; round < rounds; round++)
    {
        for (var i = 0; i < operations.Length; i++)
        {
            var (count, seconds) = Throughput(perRound, operations[i]);
            samples[i].Add(count / seconds);
        }
    }

    return [.. samples.Select(s => s.Order().ElementAt(s.Count / 2))];
}

static (long Count, double Seconds) Throughput(TimeSpan budget, Func<bool> operation)
{
    for (var i = 0; i < 20; i++)
    {
        Check(operation());
    }

    var watch = Stopwatch.StartNew();
    long count = 0;
    while (watch.Elapsed < budget)
    {
        for (var i = 0; i < 10; i++)
        {
            Check(operation());
        }

        count += 10;
    }

    return (count, watch.Elapsed.TotalSeconds);
}

static (double P50, double P99, int Count) Latency(TimeSpan budget, Action operation)
{
    for (var i = 0; i < 100; i++)
    {
        operation();
    }

    var samples = new List<double>();
    var total = Stopwatch.StartNew();
    while (total.Elapsed < budget && samples.Count < 200_000)
    {
        var start = Stopwatch.GetTimestamp();
        operation();
        samples.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
    }

    samples.Sort();
    return (samples[samples.Count / 2], samples[(int)(samples.Count * 0.99)], samples.Count);
}

static void Check(bool ok)
{
    if (!ok)
    {
        throw new InvalidOperationException("a benchmarked verification failed");
    }
}

static (byte[] Tbs, byte[] Signature) TbsAndSignature(byte[] certificate)
{
    var reader = new System.Formats.Asn1.AsnReader(certificate, System.Formats.Asn1.AsnEncodingRules.DER).ReadSequence();
    var tbs = reader.ReadEncodedValue().ToArray();
    reader.ReadSequence();
    return (tbs, reader.ReadBitString(out _));
}
