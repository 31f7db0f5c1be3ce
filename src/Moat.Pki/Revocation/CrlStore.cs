using Moat.Pki.Validation;

namespace Moat.Pki.Revocation;

/// <summary>The CRLs a verifying host holds, checked for every certificate whose issuer published one.</summary>
public sealed class CrlStore
{
    private readonly Lock _lock = new();
    private readonly List<RevocationList> _lists = [];

    /// <summary>Adds (or replaces, for the same issuer) a DER or PEM CRL; the signature is checked when used.</summary>
    public void Add(byte[] crl)
    {
        var list = RevocationList.Parse(Storage.PemFiles.DerFromPemOrDer(crl, "X509 CRL"));
        lock (_lock)
        {
            _lists.RemoveAll(l => l.Issuer.Span.SequenceEqual(list.Issuer.Span));
            _lists.Add(list);
        }
    }

    internal PathRefusal? Check(ParsedCertificate certificate, ParsedCertificate issuer, DateTimeOffset now)
    {
        RevocationList? list = null;
        lock (_lock)
        {
            foreach (var candidate in _lists)
            {
                if (candidate.Issuer.Span.SequenceEqual(issuer.Subject.Span))
                {
                    list = candidate;
                    break;
                }
            }
        }

        if (list is null)
        {
            // No CRL from this issuer: expiry is the only limit, which is the design for short-lived certificates.
            return null;
        }

        var verified = list.VerifiedWith is { } key && key.AsSpan().SequenceEqual(issuer.SubjectPublicKeyInfo);
        if (!verified
            && SignatureVerifier.Verify(list.TbsBytes.Span, list.Signature, list.SignatureAlgorithm, issuer.SubjectPublicKeyInfo) != SignatureOutcome.Valid)
        {
            return new PathRefusal(
                RefusalReason.RevocationStatusUnknown,
                $"the revocation list naming {PathValidator.Describe(issuer)} as issuer is not signed by that issuer's key");
        }

        list.VerifiedWith = issuer.SubjectPublicKeyInfo;
        if (list.NextUpdate is { } next && now > next)
        {
            return new PathRefusal(
                RefusalReason.RevocationStatusUnknown,
                $"the revocation list of {PathValidator.Describe(issuer)} was due for renewal at {next:u} (now {now:u})");
        }

        return list.IsRevoked(certificate)
            ? new PathRefusal(RefusalReason.Revoked, $"{PathValidator.Describe(certificate)} is revoked by its issuer")
            : null;
    }
}
