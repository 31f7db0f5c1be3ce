using System.Formats.Asn1;

namespace Moat.Pki.Validation;

/// <summary>One X.509 certificate decoded strictly (DER) into the facts path validation needs.</summary>
internal sealed partial class ParsedCertificate
{
    private ParsedCertificate(byte[] raw)
    {
        RawData = raw;
    }

    public byte[] RawData { get; }

    public ReadOnlyMemory<byte> TbsBytes { get; private set; }

    public AlgorithmIdentifier SignatureAlgorithm { get; private set; }

    public AlgorithmIdentifier TbsSignatureAlgorithm { get; private set; }

    public byte[] Signature { get; private set; } = [];

    public int Version { get; private set; }

    public byte[] SerialNumber { get; private set; } = [];

    public ReadOnlyMemory<byte> Issuer { get; private set; }

    public ReadOnlyMemory<byte> Subject { get; private set; }

    public bool SubjectIsEmpty { get; private set; }

    public bool IssuerIsEmpty { get; private set; }

    public DateTimeOffset NotBefore { get; private set; }

    public DateTimeOffset NotAfter { get; private set; }

    public byte[] SubjectPublicKeyInfo { get; private set; } = [];

    public string SerialHex => Convert.ToHexString(SerialNumber);

    public bool IsSelfIssued => Issuer.Span.SequenceEqual(Subject.Span);

    /// <summary>Decodes DER; a structural defect yields false and one sentence in <paramref name="error"/>.</summary>
    public static bool TryParse(byte[] der, out ParsedCertificate? certificate, out string error)
    {
        certificate = null;
        try
        {
            var parsed = new ParsedCertificate(der);
            error = parsed.Decode();
            if (error.Length == 0)
            {
                certificate = parsed;
                return true;
            }

            return false;
        }
        catch (AsnContentException ex)
        {
            error = $"the certificate is not valid DER: {ex.Message}";
            return false;
        }
        catch (ArgumentException ex)
        {
            error = $"the certificate is not valid DER: {ex.Message}";
            return false;
        }
    }

    private string Decode()
    {
        var outer = new AsnReader(RawData, AsnEncodingRules.DER);
        var cert = outer.ReadSequence();
        outer.ThrowIfNotEmpty();

        TbsBytes = cert.ReadEncodedValue();
        SignatureAlgorithm = AlgorithmIdentifier.Read(cert);
        Signature = cert.ReadBitString(out var unused);
        cert.ThrowIfNotEmpty();
        if (unused != 0)
        {
            return "the signature BIT STRING has unused bits";
        }

        var tbs = new AsnReader(TbsBytes, AsnEncodingRules.DER).ReadSequence();
        Version = 1;
        var versionTag = new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true);
        if (tbs.PeekTag().HasSameClassAndValue(versionTag))
        {
            var versionReader = tbs.ReadSequence(versionTag);
            if (!versionReader.TryReadInt32(out var v) || v is < 0 or > 2)
            {
                return "the certificate version is not v1, v2 or v3";
            }

            versionReader.ThrowIfNotEmpty();
            Version = v + 1;
        }

        SerialNumber = tbs.ReadIntegerBytes().ToArray();
        TbsSignatureAlgorithm = AlgorithmIdentifier.Read(tbs);
        Issuer = tbs.ReadEncodedValue();
        IssuerIsEmpty = IsEmptyName(Issuer);
        var validity = tbs.ReadSequence();
        NotBefore = ReadTime(validity);
        NotAfter = ReadTime(validity);
        validity.ThrowIfNotEmpty();
        Subject = tbs.ReadEncodedValue();
        SubjectIsEmpty = IsEmptyName(Subject);
        SubjectPublicKeyInfo = tbs.ReadEncodedValue().ToArray();

        var issuerUid = new Asn1Tag(TagClass.ContextSpecific, 1);
        var subjectUid = new Asn1Tag(TagClass.ContextSpecific, 2);
        if (tbs.HasData && tbs.PeekTag().HasSameClassAndValue(issuerUid))
        {
            tbs.ReadEncodedValue();
        }

        if (tbs.HasData && tbs.PeekTag().HasSameClassAndValue(subjectUid))
        {
            tbs.ReadEncodedValue();
        }

        var extensionsTag = new Asn1Tag(TagClass.ContextSpecific, 3, isConstructed: true);
        if (tbs.HasData)
        {
            var explicitReader = tbs.ReadSequence(extensionsTag);
            var list = explicitReader.ReadSequence();
            explicitReader.ThrowIfNotEmpty();
            var error = DecodeExtensions(list);
            if (error.Length != 0)
            {
                return error;
            }
        }

        tbs.ThrowIfNotEmpty();
        return string.Empty;
    }

    private static DateTimeOffset ReadTime(AsnReader reader)
    {
        var tag = reader.PeekTag();
        return tag.HasSameClassAndValue(Asn1Tag.UtcTime)
            ? reader.ReadUtcTime(twoDigitYearMax: 2049)
            : reader.ReadGeneralizedTime();
    }

    private static bool IsEmptyName(ReadOnlyMemory<byte> name)
    {
        var reader = new AsnReader(name, AsnEncodingRules.DER).ReadSequence();
        return !reader.HasData;
    }
}

/// <summary>An AlgorithmIdentifier: OID and the DER of its parameters (empty when absent).</summary>
internal readonly record struct AlgorithmIdentifier(string Oid, ReadOnlyMemory<byte> Parameters)
{
    public static AlgorithmIdentifier Read(AsnReader reader)
    {
        var seq = reader.ReadSequence();
        var oid = seq.ReadObjectIdentifier();
        var parameters = seq.HasData ? seq.ReadEncodedValue() : ReadOnlyMemory<byte>.Empty;
        seq.ThrowIfNotEmpty();
        return new AlgorithmIdentifier(oid, parameters);
    }

    public bool SameAs(AlgorithmIdentifier other) =>
        Oid == other.Oid && Parameters.Span.SequenceEqual(other.Parameters.Span);
}
