using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Moat.Pki.Revocation;
using Moat.Pki.Validation;

namespace Moat.Pki.AuthCerts;

/// <summary>
/// Verifies authcerts for a host's allow requests: RFC 5280 path validation to the configured roots (with CRLs
/// where the host holds them), then the WASCo address checks. Never throws for a bad authcert: returns a verdict.
/// </summary>
public sealed class AuthCertVerifier
{
    // A real chain is one or two certificates; the bound keeps a requester from making path building expensive.
    private const int MaxChainCertificates = 8;

    private readonly List<ParsedCertificate> _roots = [];
    private readonly TimeProvider _timeProvider;
    private readonly CrlStore? _crls;

    public AuthCertVerifier(IEnumerable<byte[]> rootCertificates, TimeProvider? timeProvider = null, CrlStore? crls = null)
    {
        foreach (var der in rootCertificates)
        {
            if (!ParsedCertificate.TryParse(der, out var root, out var error))
            {
                throw new PkiInputException($"A configured root certificate cannot be used: {error}.");
            }

            _roots.Add(root!);
        }

        if (_roots.Count == 0)
        {
            throw new PkiInputException("No root certificate configured; give at least one (--root root.crt).");
        }

        _timeProvider = timeProvider ?? TimeProvider.System;
        _crls = crls;
    }

    /// <summary>
    /// Verifies <paramref name="authCert"/> (DER) with the certificates that lead to a root (<paramref name="chain"/>:
    /// node A's certificate or its host's CA, and any intermediates). When <paramref name="requestedAddress"/> is given
    /// the authcert must name exactly it; when <paramref name="userPublicKey"/> (SubjectPublicKeyInfo DER) is given the
    /// authcert must be for that key.
    /// </summary>
    public AuthCertVerdict Verify(
        byte[] authCert,
        IReadOnlyList<byte[]> chain,
        IPAddress? requestedAddress = null,
        byte[]? userPublicKey = null)
    {
        if (!ParsedCertificate.TryParse(authCert, out var leaf, out var error))
        {
            return AuthCertVerdict.Refused(RefusalReason.Malformed, $"The authcert is not a valid X.509 certificate: {error}.");
        }

        if (chain.Count > MaxChainCertificates)
        {
            return AuthCertVerdict.Refused(
                RefusalReason.Malformed,
                $"The authcert comes with {chain.Count} chain certificates; at most {MaxChainCertificates} are accepted (node A's or its host's certificate and any intermediates).");
        }

        var intermediates = new List<ParsedCertificate>(chain.Count);
        for (var i = 0; i < chain.Count; i++)
        {
            if (!ParsedCertificate.TryParse(chain[i], out var parsed, out error))
            {
                return AuthCertVerdict.Refused(RefusalReason.Malformed, $"Chain certificate {i + 1} is not a valid X.509 certificate: {error}.");
            }

            intermediates.Add(parsed!);
        }

        return Verify(leaf!, intermediates, requestedAddress, userPublicKey);
    }

    /// <summary>Verifies a PEM bundle as 'moat authcert issue' writes it: the authcert first, then its chain.</summary>
    public AuthCertVerdict VerifyPem(string pem, IPAddress? requestedAddress = null, byte[]? userPublicKey = null) =>
        VerifyPem(pem, requestedAddress, userPublicKey, possession: null);

    /// <summary>
    /// As <see cref="VerifyPem(string, IPAddress?, byte[]?)"/>, and with <paramref name="possession"/> the presenter must
    /// also prove it holds the authcert's user key, with a proof made for the requirement's context.
    /// </summary>
    public AuthCertVerdict VerifyPem(string pem, IPAddress? requestedAddress, byte[]? userPublicKey, PossessionRequirement? possession)
    {
        var certificates = Storage.PemFiles.AllPem(System.Text.Encoding.ASCII.GetBytes(pem), "CERTIFICATE");
        if (certificates.Count == 0)
        {
            return AuthCertVerdict.Refused(RefusalReason.Malformed, "The authcert holds no '-----BEGIN CERTIFICATE-----' block; give the PEM that 'moat authcert issue' wrote.");
        }

        var verdict = Verify(certificates[0], [.. certificates.Skip(1)], requestedAddress, userPublicKey);
        if (!verdict.IsOpen || possession is null)
        {
            return verdict;
        }

        var why = possession.Proof is null
            ? "The authcert is for a user's key and no proof that the presenter holds that key came with it; sign one with the user's private key (moat sandbox allow --key)."
            : ParsedCertificate.TryParse(certificates[0], out var leaf, out _)
                ? possession.Proof.Check(leaf!.SubjectPublicKeyInfo, possession.Context, verdict.Serial!, _timeProvider.GetUtcNow())
                : "The authcert could not be read again to check the proof of key possession.";
        return why is null ? verdict : AuthCertVerdict.Refused(RefusalReason.PossessionNotProven, why, verdict.Address, verdict.Serial);
    }

    internal AuthCertVerdict Verify(ParsedCertificate leaf, IReadOnlyList<ParsedCertificate> chain, IPAddress? requestedAddress, byte[]? userPublicKey)
    {
        if (leaf.IpAddresses.Count != 1)
        {
            return AuthCertVerdict.Refused(
                RefusalReason.AddressMismatch,
                $"The authcert names {leaf.IpAddresses.Count} IP addresses; an authcert names exactly the one address it opens.",
                serial: leaf.SerialHex);
        }

        var address = new IPAddress(leaf.IpAddresses[0]);
        if (requestedAddress is not null && !requestedAddress.Equals(address))
        {
            return AuthCertVerdict.Refused(
                RefusalReason.AddressMismatch,
                $"The authcert opens {address}, not the requested {requestedAddress}.",
                address,
                leaf.SerialHex);
        }

        var now = _timeProvider.GetUtcNow();
        var crls = _crls;
        var options = new PathValidationOptions
        {
            Time = now,
            MaxIntermediates = 4,
            LeafMustBeEndEntity = true,
            RequiredExtendedKeyUsage = Oids.MoatAuthCertUsage,
            RequiredLeafAddress = leaf.IpAddresses[0],
            RevocationCheck = crls is null ? null : (certificate, issuer) => crls.Check(certificate, issuer, now),
        };

        var result = PathValidator.Validate(leaf, chain, _roots, options);
        if (result.Refusal is { } refusal)
        {
            return AuthCertVerdict.Refused(refusal.Reason, Sentence(refusal.Detail), address, leaf.SerialHex);
        }

        var signer = result.Path[1];
        if (!Binds(signer, leaf.IpAddresses[0]))
        {
            return AuthCertVerdict.Refused(
                RefusalReason.SignerDoesNotBindAddress,
                Sentence($"{PathValidator.Describe(signer)} signed the authcert but neither names {address} among its addresses nor may allocate it"),
                address,
                leaf.SerialHex);
        }

        if (userPublicKey is not null && !userPublicKey.AsSpan().SequenceEqual(leaf.SubjectPublicKeyInfo))
        {
            return AuthCertVerdict.Refused(
                RefusalReason.UserKeyMismatch,
                "The authcert was issued for a different user key than the one making this request.",
                address,
                leaf.SerialHex);
        }

        var validFrom = result.Path.Max(c => c.NotBefore);
        var validUntil = result.Path.Min(c => c.NotAfter);
        var issuers = result.Path.Skip(1).Select(c => new X500DistinguishedName(c.Subject.Span).Name).ToList();
        return new AuthCertVerdict
        {
            IsOpen = true,
            Address = address,
            ValidFrom = validFrom,
            ValidUntil = validUntil,
            Serial = leaf.SerialHex,
            IssuerChain = issuers,
            UserKeyFingerprint = Convert.ToHexString(SHA256.HashData(leaf.SubjectPublicKeyInfo)),
            Reason = RefusalReason.None,
            Explanation = $"open path user→{address} until {validUntil:u} (authcert {leaf.SerialHex}, signed by {issuers[0]})",
        };
    }

    // Node A binds an address by naming it in its IP SANs; a surrogate host binds the addresses it may allocate
    // to its sandboxes through its permitted iPAddress subtrees (WASCo: the host signs on behalf of its sandboxes).
    private static bool Binds(ParsedCertificate signer, byte[] address) =>
        signer.IpAddresses.Any(ip => ip.AsSpan().SequenceEqual(address))
        || (signer.NameConstraints?.PermittedIp.Any(subtree => subtree.Contains(address)) ?? false);

    private static string Sentence(string detail) => char.ToUpperInvariant(detail[0]) + detail[1..] + ".";
}
