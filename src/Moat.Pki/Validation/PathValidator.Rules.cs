namespace Moat.Pki.Validation;

/// <summary>The per-certificate and per-path rules applied once a candidate path reaches a root.</summary>
internal static partial class PathValidator
{
    private static PathRefusal? CheckPath(List<ParsedCertificate> path, PathValidationOptions options)
    {
        for (var i = 0; i < path.Count; i++)
        {
            if (CheckCertificate(path[i], options.Time, isRoot: i == path.Count - 1) is { } refusal)
            {
                return refusal;
            }
        }

        if (CheckLeaf(path[0], options) is { } leafRefusal)
        {
            return leafRefusal;
        }

        for (var i = 1; i < path.Count; i++)
        {
            if (CheckIssuer(path, i) is { } refusal)
            {
                return refusal;
            }
        }

        if (options.RevocationCheck is { } revocation)
        {
            for (var i = 0; i < path.Count - 1; i++)
            {
                if (revocation(path[i], path[i + 1]) is { } refusal)
                {
                    return refusal;
                }
            }
        }

        return null;
    }

    private static PathRefusal? CheckCertificate(ParsedCertificate c, DateTimeOffset time, bool isRoot)
    {
        if (c.Version != 3)
        {
            return new PathRefusal(RefusalReason.Malformed, $"{Describe(c)} is X.509 v{c.Version}; only v3 is accepted");
        }

        var serial = c.SerialNumber;
        if (serial.Length > 20 || (serial[0] & 0x80) != 0 || serial.AsSpan().IndexOfAnyExcept((byte)0) < 0)
        {
            return new PathRefusal(RefusalReason.Malformed, $"{Describe(c)} has a serial number that is not a positive integer of at most 20 octets");
        }

        // A root is trusted for its name and key; its self-signature is never checked, so its algorithm does not matter.
        if (!isRoot && !SignatureVerifier.IsSupportedSignatureAlgorithm(c.SignatureAlgorithm))
        {
            return new PathRefusal(
                RefusalReason.SignatureAlgorithmNotAllowed,
                $"{Describe(c)} is signed with {c.SignatureAlgorithm.Oid}; only ECDSA or RSA PKCS#1 with SHA-256/384/512, named identically inside and outside the signed part, are accepted");
        }

        if (SignatureVerifier.RefuseKey(c.SubjectPublicKeyInfo) is { } keyProblem)
        {
            return new PathRefusal(RefusalReason.PublicKeyNotAllowed, $"{Describe(c)} is refused: {keyProblem}");
        }

        if (time < c.NotBefore)
        {
            return new PathRefusal(RefusalReason.NotYetValid, $"{Describe(c)} is not valid before {c.NotBefore:u} (now {time:u})");
        }

        if (time > c.NotAfter)
        {
            return new PathRefusal(RefusalReason.Expired, $"{Describe(c)} expired at {c.NotAfter:u} (now {time:u})");
        }

        if (c.UnhandledCriticalExtension is { } oid)
        {
            return new PathRefusal(RefusalReason.UnhandledCriticalExtension, $"{Describe(c)} carries critical extension {oid}, which this validator does not process");
        }

        if (c.IssuerIsEmpty)
        {
            return new PathRefusal(RefusalReason.Malformed, $"{Describe(c)} has an empty issuer name");
        }

        if (c.SubjectIsEmpty && !(c.HasSubjectAltName && c.SubjectAltNameCritical))
        {
            return new PathRefusal(RefusalReason.Malformed, $"{Describe(c)} has an empty subject without a critical subjectAltName");
        }

        return null;
    }

    private static PathRefusal? CheckLeaf(ParsedCertificate leaf, PathValidationOptions options)
    {
        if (options.LeafMustBeEndEntity && (leaf.IsCa || leaf.NameConstraints is not null))
        {
            return new PathRefusal(RefusalReason.LeafIsCertificateAuthority, $"{Describe(leaf)} is an end-entity certificate but is marked as a CA or carries name constraints");
        }

        if (leaf.HasKeyUsage(KeyCertSign) && !leaf.IsCa)
        {
            return new PathRefusal(RefusalReason.KeyUsageNotAllowed, $"{Describe(leaf)} allows keyCertSign without being a CA");
        }

        if (options.RequiredExtendedKeyUsage is { } eku && !(leaf.ExtendedKeyUsages?.Contains(eku) ?? false))
        {
            return new PathRefusal(RefusalReason.ExtendedKeyUsageMissing, $"{Describe(leaf)} does not list extended key usage {eku}");
        }

        if (options.RequiredLeafAddress is { } address && !leaf.IpAddresses.Any(ip => ip.AsSpan().SequenceEqual(address)))
        {
            return new PathRefusal(
                RefusalReason.AddressMismatch,
                $"{Describe(leaf)} does not name {new System.Net.IPAddress(address)} in its IP subjectAltName");
        }

        return null;
    }

    private static PathRefusal? CheckIssuer(List<ParsedCertificate> path, int index)
    {
        var ca = path[index];
        if (!ca.HasBasicConstraints || !ca.IsCa || !ca.BasicConstraintsCritical)
        {
            return new PathRefusal(RefusalReason.NotACertificateAuthority, $"{Describe(ca)} issues certificates but lacks a critical basicConstraints with cA true");
        }

        if (ca.SubjectIsEmpty)
        {
            return new PathRefusal(RefusalReason.NotACertificateAuthority, $"{Describe(ca)} is a CA with an empty subject");
        }

        if (ca.KeyUsage is not null && !ca.HasKeyUsage(KeyCertSign))
        {
            return new PathRefusal(RefusalReason.KeyUsageNotAllowed, $"{Describe(ca)} issues certificates but its keyUsage lacks keyCertSign");
        }

        // pathLenConstraint counts the non-self-issued intermediates below this CA (RFC 5280 4.2.1.9).
        var below = 0;
        for (var j = 1; j < index; j++)
        {
            if (!path[j].IsSelfIssued)
            {
                below++;
            }
        }

        if (ca.PathLength is { } limit && below > limit)
        {
            return new PathRefusal(RefusalReason.PathLengthExceeded, $"{Describe(ca)} allows {limit} intermediate(s) below it but the path has {below}");
        }

        if (ca.NameConstraints is { } constraints)
        {
            if (!ca.NameConstraintsCritical)
            {
                return new PathRefusal(RefusalReason.Malformed, $"{Describe(ca)} has name constraints that are not marked critical");
            }

            for (var j = 0; j < index; j++)
            {
                // Self-issued intermediates are exempt (RFC 5280 6.1.3 (b)), the leaf never is.
                if (j > 0 && path[j].IsSelfIssued)
                {
                    continue;
                }

                if (CheckNames(path[j], ca, constraints) is { } refusal)
                {
                    return refusal;
                }
            }
        }

        return null;
    }

    private static PathRefusal? CheckNames(ParsedCertificate subject, ParsedCertificate ca, NameConstraintsFacts constraints)
    {
        foreach (var ip in subject.IpAddresses)
        {
            var address = new System.Net.IPAddress(ip);
            if (constraints.ExcludedIp.Any(s => s.Contains(ip)))
            {
                return new PathRefusal(RefusalReason.NameConstraintsViolated, $"{Describe(subject)} names {address}, which {Describe(ca)} excludes");
            }

            if (constraints.PermittedIp.Count > 0 && !constraints.PermittedIp.Any(s => s.Contains(ip)))
            {
                return new PathRefusal(
                    RefusalReason.NameConstraintsViolated,
                    $"{Describe(subject)} names {address}, outside the prefixes {Describe(ca)} may certify ({string.Join(", ", constraints.PermittedIp)})");
            }
        }

        // Constraints on other name forms bind only names of that form; where the certificate has such names we
        // refuse instead of evaluating forms this validator does not implement.
        var forms = new HashSet<int>(subject.SubjectAltNameForms);
        forms.Remove(GeneralName.IpAddressTag);
        if (!subject.SubjectIsEmpty)
        {
            forms.Add(4);
        }

        foreach (var form in forms)
        {
            if (constraints.OtherPermittedForms.Contains(form) || constraints.OtherExcludedForms.Contains(form))
            {
                return new PathRefusal(
                    RefusalReason.NameConstraintsUnsupported,
                    $"{Describe(ca)} constrains GeneralName form [{form}], which this validator does not evaluate, and {Describe(subject)} has such a name");
            }
        }

        return null;
    }
}
