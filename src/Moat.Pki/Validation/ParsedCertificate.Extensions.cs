using System.Formats.Asn1;

namespace Moat.Pki.Validation;

/// <summary>The extensions of a certificate, decoded where the validator acts on them.</summary>
internal sealed partial class ParsedCertificate
{
    private static readonly HashSet<string> s_understoodExtensions =
    [
        Oids.BasicConstraints, Oids.KeyUsage, Oids.SubjectAltName, Oids.NameConstraints, Oids.ExtendedKeyUsage,
    ];

    // RFC 5280 requires these to be non-critical; marked critical they are treated as not understood.
    private static readonly HashSet<string> s_nonCriticalOnly =
    [
        Oids.SubjectKeyIdentifier, Oids.AuthorityKeyIdentifier, Oids.AuthorityInfoAccess,
    ];

    public bool HasBasicConstraints { get; private set; }

    public bool BasicConstraintsCritical { get; private set; }

    public bool IsCa { get; private set; }

    public int? PathLength { get; private set; }

    /// <summary>First octet of the KeyUsage bits (digitalSignature is 0x80, keyCertSign 0x04, cRLSign 0x02), null when absent.</summary>
    public byte? KeyUsage { get; private set; }

    public bool HasSubjectAltName { get; private set; }

    public bool SubjectAltNameCritical { get; private set; }

    public IReadOnlyList<byte[]> IpAddresses { get; private set; } = [];

    /// <summary>GeneralName tags ([0]..[8]) that occur in subjectAltName.</summary>
    public IReadOnlySet<int> SubjectAltNameForms { get; private set; } = new HashSet<int>();

    public IReadOnlyList<string>? ExtendedKeyUsages { get; private set; }

    public NameConstraintsFacts? NameConstraints { get; private set; }

    public bool NameConstraintsCritical { get; private set; }

    public byte[]? SubjectKeyIdentifier { get; private set; }

    public byte[]? AuthorityKeyIdentifier { get; private set; }

    /// <summary>OID of the first critical extension the validator does not act on, if any.</summary>
    public string? UnhandledCriticalExtension { get; private set; }

    public bool HasKeyUsage(byte bit) => KeyUsage is { } ku && (ku & bit) != 0;

    private string DecodeExtensions(AsnReader list)
    {
        var seen = new HashSet<string>();
        if (!list.HasData)
        {
            return "the extensions field is present but empty";
        }

        while (list.HasData)
        {
            var ext = list.ReadSequence();
            var oid = ext.ReadObjectIdentifier();
            var critical = false;
            if (ext.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean))
            {
                critical = ext.ReadBoolean();
            }

            var value = ext.ReadOctetString();
            ext.ThrowIfNotEmpty();
            if (!seen.Add(oid))
            {
                return $"extension {oid} appears more than once";
            }

            if (critical && !s_understoodExtensions.Contains(oid) && UnhandledCriticalExtension is null)
            {
                UnhandledCriticalExtension = oid;
            }

            var error = DecodeExtension(oid, critical, value);
            if (error.Length != 0)
            {
                return error;
            }
        }

        return string.Empty;
    }

    private string DecodeExtension(string oid, bool critical, byte[] value)
    {
        var reader = new AsnReader(value, AsnEncodingRules.DER);
        switch (oid)
        {
            case Oids.BasicConstraints:
                {
                    HasBasicConstraints = true;
                    BasicConstraintsCritical = critical;
                    var seq = reader.ReadSequence();
                    if (seq.HasData && seq.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean))
                    {
                        IsCa = seq.ReadBoolean();
                    }

                    if (seq.HasData)
                    {
                        if (!seq.TryReadInt32(out var pathLength) || pathLength < 0)
                        {
                            return "basicConstraints has an invalid pathLenConstraint";
                        }

                        PathLength = pathLength;
                    }

                    seq.ThrowIfNotEmpty();
                    break;
                }

            case Oids.KeyUsage:
                {
                    var bits = reader.ReadBitString(out _);
                    KeyUsage = bits.Length == 0 ? (byte)0 : bits[0];
                    break;
                }

            case Oids.SubjectAltName:
                {
                    HasSubjectAltName = true;
                    SubjectAltNameCritical = critical;
                    var names = reader.ReadSequence();
                    if (!names.HasData)
                    {
                        return "subjectAltName is empty";
                    }

                    var ips = new List<byte[]>();
                    var forms = new HashSet<int>();
                    while (names.HasData)
                    {
                        var name = GeneralName.Read(names);
                        forms.Add(name.Tag);
                        if (name.IpAddress is { } ip)
                        {
                            if (ip.Length != 4 && ip.Length != 16)
                            {
                                return $"subjectAltName holds an iPAddress of {ip.Length} octets; only 4 (IPv4) or 16 (IPv6) are valid";
                            }

                            ips.Add(ip);
                        }
                    }

                    IpAddresses = ips;
                    SubjectAltNameForms = forms;
                    break;
                }

            case Oids.ExtendedKeyUsage:
                {
                    var seq = reader.ReadSequence();
                    var usages = new List<string>();
                    while (seq.HasData)
                    {
                        usages.Add(seq.ReadObjectIdentifier());
                    }

                    ExtendedKeyUsages = usages;
                    break;
                }

            case Oids.NameConstraints:
                {
                    NameConstraintsCritical = critical;
                    var (facts, error) = NameConstraintsFacts.Read(reader);
                    if (error.Length != 0)
                    {
                        return error;
                    }

                    NameConstraints = facts;
                    break;
                }

            case Oids.AuthorityInfoAccess:
                {
                    // Decoded only to refuse garbage: AuthorityInfoAccessSyntax is SEQUENCE SIZE (1..MAX) OF AccessDescription.
                    var seq = reader.ReadSequence();
                    if (!seq.HasData)
                    {
                        return "authorityInfoAccess is empty";
                    }

                    while (seq.HasData)
                    {
                        var description = seq.ReadSequence();
                        description.ReadObjectIdentifier();
                        GeneralName.Read(description);
                        description.ThrowIfNotEmpty();
                    }

                    break;
                }

            case Oids.SubjectKeyIdentifier:
                SubjectKeyIdentifier = reader.ReadOctetString();
                break;

            case Oids.AuthorityKeyIdentifier:
                {
                    var seq = reader.ReadSequence();
                    var keyIdTag = new Asn1Tag(TagClass.ContextSpecific, 0);
                    if (seq.HasData && seq.PeekTag().HasSameClassAndValue(keyIdTag))
                    {
                        AuthorityKeyIdentifier = seq.ReadOctetString(keyIdTag);
                    }

                    break;
                }

            default:
                return string.Empty;
        }

        reader.ThrowIfNotEmpty();
        if (critical && s_nonCriticalOnly.Contains(oid) && UnhandledCriticalExtension is null)
        {
            UnhandledCriticalExtension = oid;
        }

        return string.Empty;
    }
}

/// <summary>One GeneralName, keeping its iPAddress octets when it is one.</summary>
internal readonly record struct GeneralName(int Tag, byte[]? IpAddress)
{
    public const int IpAddressTag = 7;

    public static GeneralName Read(AsnReader reader)
    {
        var tag = reader.PeekTag();
        if (tag.TagClass != TagClass.ContextSpecific || tag.TagValue > 8)
        {
            throw new AsnContentException("a GeneralName has a tag outside [0]..[8]");
        }

        if (tag.TagValue == IpAddressTag)
        {
            return new GeneralName(IpAddressTag, reader.ReadOctetString(new Asn1Tag(TagClass.ContextSpecific, IpAddressTag)));
        }

        reader.ReadEncodedValue();
        return new GeneralName(tag.TagValue, null);
    }
}

/// <summary>A decoded nameConstraints extension: the iPAddress subtrees, and whether other name forms are constrained.</summary>
internal sealed record NameConstraintsFacts(
    IReadOnlyList<IpSubtree> PermittedIp,
    IReadOnlyList<IpSubtree> ExcludedIp,
    IReadOnlySet<int> OtherPermittedForms,
    IReadOnlySet<int> OtherExcludedForms)
{
    public static (NameConstraintsFacts? Facts, string Error) Read(AsnReader reader)
    {
        var seq = reader.ReadSequence();
        var permittedTag = new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true);
        var excludedTag = new Asn1Tag(TagClass.ContextSpecific, 1, isConstructed: true);
        var permitted = new List<IpSubtree>();
        var excluded = new List<IpSubtree>();
        var otherPermitted = new HashSet<int>();
        var otherExcluded = new HashSet<int>();
        var any = false;
        foreach (var (tag, ips, others) in new[] { (permittedTag, permitted, otherPermitted), (excludedTag, excluded, otherExcluded) })
        {
            if (!seq.HasData || !seq.PeekTag().HasSameClassAndValue(tag))
            {
                continue;
            }

            any = true;
            var subtrees = seq.ReadSequence(tag);
            if (!subtrees.HasData)
            {
                return (null, "nameConstraints has an empty list of subtrees");
            }

            while (subtrees.HasData)
            {
                var subtree = subtrees.ReadSequence();
                var name = GeneralName.Read(subtree);
                if (subtree.HasData)
                {
                    // minimum/maximum are never used for any name form (RFC 5280 4.2.1.10 says minimum MUST be 0
                    // and maximum absent); refuse rather than guess.
                    return (null, "nameConstraints uses minimum/maximum, which RFC 5280 forbids");
                }

                if (name.IpAddress is { } encoded)
                {
                    if (IpSubtree.FromEncoding(encoded) is not { } ip)
                    {
                        return (null, "nameConstraints holds an iPAddress that is not an address plus a contiguous mask of 8 or 32 octets");
                    }

                    ips.Add(ip);
                }
                else
                {
                    others.Add(name.Tag);
                }
            }
        }

        seq.ThrowIfNotEmpty();
        if (!any)
        {
            return (null, "nameConstraints has neither permitted nor excluded subtrees");
        }

        return (new NameConstraintsFacts(permitted, excluded, otherPermitted, otherExcluded), string.Empty);
    }
}
