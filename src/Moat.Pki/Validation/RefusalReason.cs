namespace Moat.Pki.Validation;

/// <summary>Why a certificate path or an authcert was refused; each value names one rule that failed.</summary>
public enum RefusalReason
{
    /// <summary>Nothing was refused.</summary>
    None = 0,

    /// <summary>A certificate or CRL is not well-formed DER/PEM or breaks an RFC 5280 encoding rule.</summary>
    Malformed,

    /// <summary>No chain of issuers leads from the certificate to a configured root.</summary>
    NoTrustedPath,

    /// <summary>A signature in the path does not verify with its issuer's key.</summary>
    SignatureInvalid,

    /// <summary>A signature algorithm is not one of ECDSA or RSA PKCS#1 with SHA-256/384/512, or the outer and inner algorithms differ.</summary>
    SignatureAlgorithmNotAllowed,

    /// <summary>A public key is not EC on P-256/P-384/P-521 or RSA of at least 2048 bits.</summary>
    PublicKeyNotAllowed,

    /// <summary>A certificate's notAfter is in the past.</summary>
    Expired,

    /// <summary>A certificate's notBefore is in the future.</summary>
    NotYetValid,

    /// <summary>An issuer lacks a critical basicConstraints with cA true, or has an empty subject.</summary>
    NotACertificateAuthority,

    /// <summary>An issuer's pathLenConstraint (or the configured maximum depth) is exceeded.</summary>
    PathLengthExceeded,

    /// <summary>A keyUsage forbids the use made of the key (keyCertSign for issuers, none for leaves).</summary>
    KeyUsageNotAllowed,

    /// <summary>The leaf lacks the required extended key usage.</summary>
    ExtendedKeyUsageMissing,

    /// <summary>An address in the path is outside an issuer's permitted, or inside its excluded, iPAddress subtrees.</summary>
    NameConstraintsViolated,

    /// <summary>A constraint applies to a name form this validator does not evaluate, so it refuses rather than guess.</summary>
    NameConstraintsUnsupported,

    /// <summary>A certificate carries a critical extension the validator does not act on.</summary>
    UnhandledCriticalExtension,

    /// <summary>The leaf is itself a CA (or carries name constraints), which an end-entity certificate must not be.</summary>
    LeafIsCertificateAuthority,

    /// <summary>The leaf does not name the requested address in its IP subjectAltName.</summary>
    AddressMismatch,

    /// <summary>The authcert's signer (node A or its host CA) does not bind the address the authcert names.</summary>
    SignerDoesNotBindAddress,

    /// <summary>The authcert was issued for a different user key than the one making the request.</summary>
    UserKeyMismatch,

    /// <summary>The presenter did not prove it holds the authcert's user key (no proof, a stale one, or a bad signature).</summary>
    PossessionNotProven,

    /// <summary>A certificate in the path is on its issuer's revocation list.</summary>
    Revoked,

    /// <summary>The issuer's revocation list is present but unusable (bad signature, stale, wrong issuer).</summary>
    RevocationStatusUnknown,
}
