namespace Moat.Pki.Validation;

/// <summary>Object identifiers the validator and the issuers use.</summary>
internal static class Oids
{
    public const string BasicConstraints = "2.5.29.19";
    public const string KeyUsage = "2.5.29.15";
    public const string SubjectAltName = "2.5.29.17";
    public const string NameConstraints = "2.5.29.30";
    public const string ExtendedKeyUsage = "2.5.29.37";
    public const string SubjectKeyIdentifier = "2.5.29.14";
    public const string AuthorityKeyIdentifier = "2.5.29.35";
    public const string CertificatePolicies = "2.5.29.32";
    public const string CrlDistributionPoints = "2.5.29.31";
    public const string AuthorityInfoAccess = "1.3.6.1.5.5.7.1.1";
    public const string CrlNumber = "2.5.29.20";

    public const string EcPublicKey = "1.2.840.10045.2.1";
    public const string Rsa = "1.2.840.113549.1.1.1";
    public const string P256 = "1.2.840.10045.3.1.7";
    public const string P384 = "1.3.132.0.34";
    public const string P521 = "1.3.132.0.35";

    public const string EcdsaSha256 = "1.2.840.10045.4.3.2";
    public const string EcdsaSha384 = "1.2.840.10045.4.3.3";
    public const string EcdsaSha512 = "1.2.840.10045.4.3.4";
    public const string RsaSha256 = "1.2.840.113549.1.1.11";
    public const string RsaSha384 = "1.2.840.113549.1.1.12";
    public const string RsaSha512 = "1.2.840.113549.1.1.13";

    public const string AnyExtendedKeyUsage = "2.5.29.37.0";

    // A UUID-derived OID (ITU-T X.667 arc 2.25) so Moat needs no registered enterprise number:
    // it marks a leaf as an authorization certificate rather than a sandbox's own identity certificate.
    public const string MoatAuthCertUsage = "2.25.246613437270405834069915131329066457811";
}
