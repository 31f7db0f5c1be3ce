using System.Security.Cryptography;
using System.Text.Json;
using Moat.Pki.Validation;

namespace Moat.Pki.Tests.Conformance;

/// <summary>One x509-limbo test case as the validator sees it.</summary>
internal sealed record LimboCase(
    string Id,
    bool ExpectSuccess,
    string ValidationKind,
    string PeerKind,
    string PeerValue,
    DateTimeOffset? ValidationTime,
    int? MaxChainDepth,
    IReadOnlyList<string> RequiredExtendedKeyUsages,
    IReadOnlyList<string> Trusted,
    IReadOnlyList<string> Intermediates,
    string Peer)
{
    // Limbo cases without a validation time are built to be valid "now" around the suite's commit date.
    private static readonly DateTimeOffset s_defaultTime = new(2023, 12, 2, 0, 0, 0, TimeSpan.Zero);

    public static IReadOnlyList<LimboCase> LoadAll()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(ConformanceData.PathOf("x509-limbo", "limbo-committed-2023-12-02.json")));
        var list = new List<LimboCase>();
        foreach (var c in doc.RootElement.GetProperty("testcases").EnumerateArray())
        {
            var peer = c.GetProperty("expected_peer_name");
            var time = c.GetProperty("validation_time");
            var depth = c.GetProperty("max_chain_depth");
            list.Add(new LimboCase(
                c.GetProperty("id").GetString()!,
                c.GetProperty("expected_result").GetString() == "SUCCESS",
                c.GetProperty("validation_kind").GetString()!,
                peer.ValueKind == JsonValueKind.Null ? "" : peer.GetProperty("kind").GetString()!,
                peer.ValueKind == JsonValueKind.Null ? "" : peer.GetProperty("value").GetString()!,
                time.ValueKind == JsonValueKind.Null ? null : DateTimeOffset.Parse(time.GetString()!, System.Globalization.CultureInfo.InvariantCulture),
                depth.ValueKind == JsonValueKind.Null ? null : depth.GetInt32(),
                c.GetProperty("extended_key_usage").ValueKind == JsonValueKind.Null
                    ? []
                    : [.. c.GetProperty("extended_key_usage").EnumerateArray().Select(e => e.GetString()!)],
                [.. c.GetProperty("trusted_certs").EnumerateArray().Select(e => e.GetString()!)],
                [.. c.GetProperty("untrusted_intermediates").EnumerateArray().Select(e => e.GetString()!)],
                c.GetProperty("peer_certificate").GetString()!));
        }

        return list;
    }

    /// <summary>
    /// The selection rule (documented in docs/authcerts.md): every case whose peer name is an IP address, plus every
    /// case with a DNS peer name except the categories whose outcome depends on checks Moat does not make:
    /// DNS-name matching (webpki::san), dNSName/directoryName name constraints (::nc::), AKI/SKI presence
    /// (::aki::, ::ski::) and the Web PKI EKU policy (webpki::eku).
    /// </summary>
    public bool IsApplicable =>
        PeerKind == "IP"
        || (PeerKind == "DNS" && !s_excludedForDnsPeers.Any(category => Id.Contains(category, StringComparison.Ordinal)));

    private static readonly string[] s_excludedForDnsPeers = ["webpki::san::", "::nc::", "::aki::", "::ski::", "webpki::eku::"];

    private static string EkuOid(string name) => name switch
    {
        "serverAuth" => "1.3.6.1.5.5.7.3.1",
        "clientAuth" => "1.3.6.1.5.5.7.3.2",
        _ => throw new InvalidOperationException("unknown EKU " + name),
    };

    public override string ToString() => Id;

    /// <summary>Runs the case through the validator; returns the refusal (null when the path validates).</summary>
    public PathRefusal? Run()
    {
        var parsed = new List<ParsedCertificate>();
        ParsedCertificate? Parse(string pem)
        {
            var der = Convert.FromBase64String(pem[PemEncoding.Find(pem).Base64Data]);
            return ParsedCertificate.TryParse(der, out var cert, out _) ? cert : null;
        }

        if (Parse(Peer) is not { } leaf)
        {
            return new PathRefusal(RefusalReason.Malformed, "peer does not parse");
        }

        var roots = Trusted.Select(Parse).ToList();
        var intermediates = Intermediates.Select(Parse).ToList();
        if (roots.Any(r => r is null) || intermediates.Any(r => r is null))
        {
            // A certificate that does not parse is refused; the path it belongs to cannot be built.
            roots.RemoveAll(r => r is null);
            intermediates.RemoveAll(r => r is null);
        }

        var options = new PathValidationOptions
        {
            Time = ValidationTime ?? s_defaultTime,
            MaxIntermediates = MaxChainDepth ?? 8,
            // The webpki namespace encodes the Web PKI profile which, like Moat's authcert profile, refuses CA leaves;
            // the rfc5280 and pathlen namespaces follow RFC 5280, which allows them.
            LeafMustBeEndEntity = Id.StartsWith("webpki::", StringComparison.Ordinal),
            RequiredExtendedKeyUsage = RequiredExtendedKeyUsages.Count == 0 ? null : EkuOid(RequiredExtendedKeyUsages.Single()),
            RequiredLeafAddress = PeerKind == "IP" ? System.Net.IPAddress.Parse(PeerValue).GetAddressBytes() : null,
        };
        return PathValidator.Validate(leaf, intermediates!, roots!, options).Refusal;
    }
}
