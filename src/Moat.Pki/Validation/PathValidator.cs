namespace Moat.Pki.Validation;

/// <summary>
/// RFC 5280 path building and validation over <see cref="ParsedCertificate"/>: every link's signature, validity
/// windows, basicConstraints/pathLen, keyUsage and iPAddress name constraints at every CA, roots included.
/// </summary>
internal static partial class PathValidator
{
    private const byte KeyCertSign = 0x04;

    // A hard bound on path length whatever the options say, so pools of self-issued certificates cannot loop long.
    private const int MaxPathLength = 16;

    public static PathValidationResult Validate(
        ParsedCertificate leaf,
        IReadOnlyList<ParsedCertificate> intermediates,
        IReadOnlyList<ParsedCertificate> roots,
        PathValidationOptions options)
    {
        var chain = new List<ParsedCertificate> { leaf };
        var search = new SearchState();
        var found = Build(chain, intermediates, roots, options, search);
        if (found is not null)
        {
            return new PathValidationResult(found, null);
        }

        return new PathValidationResult([leaf], search.Best.Refusal ?? new PathRefusal(RefusalReason.NoTrustedPath, $"no issuer of {Describe(leaf)} leads to a configured root"));
    }

    private static List<ParsedCertificate>? Build(
        List<ParsedCertificate> chain,
        IReadOnlyList<ParsedCertificate> intermediates,
        IReadOnlyList<ParsedCertificate> roots,
        PathValidationOptions options,
        SearchState search)
    {
        var current = chain[^1];
        foreach (var root in roots)
        {
            if (!root.Subject.Span.SequenceEqual(current.Issuer.Span))
            {
                continue;
            }

            if (search.Link(current, root) is { } linkRefusal)
            {
                search.Prefer(linkRefusal, RankedRefusal.Link);
                continue;
            }

            List<ParsedCertificate> path = [.. chain, root];
            if (CheckPath(path, options) is { } refusal)
            {
                search.Prefer(refusal, RankedRefusal.CompletePath);
                continue;
            }

            return path;
        }

        foreach (var candidate in intermediates)
        {
            if (!candidate.Subject.Span.SequenceEqual(current.Issuer.Span) || InChain(chain, candidate))
            {
                continue;
            }

            // The depth limit counts logical intermediates: self-issued ones (key rollover) are free, like for pathLen.
            var logical = chain.Skip(1).Count(c => !c.IsSelfIssued) + (candidate.IsSelfIssued ? 0 : 1);
            if (logical > options.MaxIntermediates || chain.Count > MaxPathLength)
            {
                search.Prefer(
                    new PathRefusal(
                        RefusalReason.PathLengthExceeded,
                        $"a path through {Describe(candidate)} would have more than {options.MaxIntermediates} intermediates"),
                    RankedRefusal.Depth);
                continue;
            }

            if (search.Link(current, candidate) is { } linkRefusal)
            {
                search.Prefer(linkRefusal, RankedRefusal.Link);
                continue;
            }

            chain.Add(candidate);
            var path = Build(chain, intermediates, roots, options, search);
            chain.RemoveAt(chain.Count - 1);
            if (path is not null)
            {
                return path;
            }
        }

        return null;
    }

    // A certificate may appear once per path; the same subject with the same key counts as the same CA
    // (a re-issued CA certificate), which stops cycles through "same logical CA" loops.
    private static bool InChain(List<ParsedCertificate> chain, ParsedCertificate candidate)
    {
        foreach (var c in chain)
        {
            if (c.Subject.Span.SequenceEqual(candidate.Subject.Span)
                && c.SubjectPublicKeyInfo.AsSpan().SequenceEqual(candidate.SubjectPublicKeyInfo))
            {
                return true;
            }
        }

        return false;
    }

    internal static PathRefusal? CheckLink(ParsedCertificate subject, ParsedCertificate issuer)
    {
        if (!subject.TbsSignatureAlgorithm.SameAs(subject.SignatureAlgorithm))
        {
            return new PathRefusal(
                RefusalReason.SignatureAlgorithmNotAllowed,
                $"{Describe(subject)} names different signature algorithms inside and outside its signed part");
        }

        if (SignatureVerifier.RefuseKey(issuer.SubjectPublicKeyInfo) is { } keyProblem)
        {
            return new PathRefusal(RefusalReason.PublicKeyNotAllowed, $"{Describe(issuer)} is refused: {keyProblem}");
        }

        return SignatureVerifier.Verify(subject.TbsBytes.Span, subject.Signature, subject.SignatureAlgorithm, issuer.SubjectPublicKeyInfo) switch
        {
            SignatureOutcome.Valid => null,
            SignatureOutcome.UnsupportedAlgorithm => new PathRefusal(
                RefusalReason.SignatureAlgorithmNotAllowed,
                $"{Describe(subject)} is signed with {subject.SignatureAlgorithm.Oid}; only ECDSA or RSA PKCS#1 with SHA-256/384/512 are accepted"),
            SignatureOutcome.UnusableKey => new PathRefusal(
                RefusalReason.PublicKeyNotAllowed,
                $"the key of {Describe(issuer)} cannot verify the signature of {Describe(subject)}"),
            _ => new PathRefusal(
                RefusalReason.SignatureInvalid,
                $"the signature of {Describe(subject)} does not verify with the key of {Describe(issuer)}"),
        };
    }

    internal static string Describe(ParsedCertificate certificate)
    {
        string subject;
        try
        {
            subject = new System.Security.Cryptography.X509Certificates.X500DistinguishedName(certificate.Subject.Span).Name;
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            subject = "?";
        }

        return $"certificate '{subject}' (serial {certificate.SerialHex})";
    }
}
