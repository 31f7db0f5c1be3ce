namespace Moat.Pki.Validation;

/// <summary>What a path must satisfy besides RFC 5280 basics: the time, the depth, the leaf's address and usage.</summary>
internal sealed record PathValidationOptions
{
    public required DateTimeOffset Time { get; init; }

    /// <summary>Most intermediates (not counting leaf and root) a path may have.</summary>
    public int MaxIntermediates { get; init; } = 8;

    /// <summary>An address the leaf must carry as an IP subjectAltName (4 or 16 octets), if any.</summary>
    public byte[]? RequiredLeafAddress { get; init; }

    /// <summary>
    /// Refuse leaves marked as CAs or carrying name constraints. RFC 5280 allows a CA as the last certificate;
    /// the authcert profile (like the Web PKI) does not.
    /// </summary>
    public bool LeafMustBeEndEntity { get; init; } = true;

    /// <summary>An extended key usage OID the leaf must list, if any.</summary>
    public string? RequiredExtendedKeyUsage { get; init; }

    /// <summary>Consulted for every certificate below the root with its issuer; returns a refusal or null.</summary>
    public Func<ParsedCertificate, ParsedCertificate, PathRefusal?>? RevocationCheck { get; init; }
}

/// <summary>A refusal: the rule and one sentence naming the certificate and what was wrong.</summary>
internal sealed record PathRefusal(RefusalReason Reason, string Detail);

/// <summary>The result of path validation: the path leaf-first ending at a root, or the refusal.</summary>
internal sealed record PathValidationResult(IReadOnlyList<ParsedCertificate> Path, PathRefusal? Refusal)
{
    public bool IsValid => Refusal is null;
}
