using System.Formats.Asn1;
using Moat.Pki.Validation;

namespace Moat.Pki.Revocation;

/// <summary>A decoded X.509 CRL (RFC 5280 section 5): who signed it, when it is current, which serials it revokes.</summary>
internal sealed class RevocationList
{
    private readonly HashSet<string> _revokedSerials = new(StringComparer.Ordinal);

    private RevocationList(byte[] raw)
    {
        RawData = raw;
    }

    public byte[] RawData { get; }

    public ReadOnlyMemory<byte> TbsBytes { get; private set; }

    public AlgorithmIdentifier SignatureAlgorithm { get; private set; }

    public byte[] Signature { get; private set; } = [];

    public ReadOnlyMemory<byte> Issuer { get; private set; }

    public DateTimeOffset ThisUpdate { get; private set; }

    public DateTimeOffset? NextUpdate { get; private set; }

    public int Count => _revokedSerials.Count;

    /// <summary>The issuer key this list's signature was last found valid with, so each request need not re-verify it.</summary>
    public byte[]? VerifiedWith { get; set; }

    public bool IsRevoked(ParsedCertificate certificate) => _revokedSerials.Contains(certificate.SerialHex);

    public static RevocationList Parse(byte[] der)
    {
        try
        {
            var list = new RevocationList(der);
            list.Decode();
            return list;
        }
        catch (AsnContentException ex)
        {
            throw new PkiInputException($"The revocation list is not a DER X.509 CRL ({ex.Message}); give a file written by 'moat pki crl'.", ex);
        }
    }

    private void Decode()
    {
        var outer = new AsnReader(RawData, AsnEncodingRules.DER);
        var crl = outer.ReadSequence();
        outer.ThrowIfNotEmpty();
        TbsBytes = crl.ReadEncodedValue();
        SignatureAlgorithm = AlgorithmIdentifier.Read(crl);
        Signature = crl.ReadBitString(out var unusedBits);
        crl.ThrowIfNotEmpty();
        if (unusedBits != 0)
        {
            // A signature is whole octets; a non-zero count here would be ignored by the verifier, so the CRL's bytes
            // could change without its signature failing.
            throw new AsnContentException("the CRL's signature BIT STRING declares unused bits");
        }

        var tbs = new AsnReader(TbsBytes, AsnEncodingRules.DER).ReadSequence();
        if (tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Integer))
        {
            tbs.ReadInteger();
        }

        var inner = AlgorithmIdentifier.Read(tbs);
        if (!inner.SameAs(SignatureAlgorithm))
        {
            throw new AsnContentException("the CRL names different signature algorithms inside and outside its signed part");
        }

        Issuer = tbs.ReadEncodedValue();
        ThisUpdate = ReadTime(tbs);
        if (tbs.HasData && IsTime(tbs.PeekTag()))
        {
            NextUpdate = ReadTime(tbs);
        }

        if (tbs.HasData && tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
        {
            var entries = tbs.ReadSequence();
            while (entries.HasData)
            {
                var entry = entries.ReadSequence();
                _revokedSerials.Add(Convert.ToHexString(entry.ReadIntegerBytes().Span));
                ReadTime(entry);
                if (entry.HasData)
                {
                    entry.ReadEncodedValue();
                }

                entry.ThrowIfNotEmpty();
            }
        }

        if (tbs.HasData)
        {
            tbs.ReadEncodedValue();
        }

        tbs.ThrowIfNotEmpty();
    }

    private static bool IsTime(Asn1Tag tag) =>
        tag.HasSameClassAndValue(Asn1Tag.UtcTime) || tag.HasSameClassAndValue(Asn1Tag.GeneralizedTime);

    private static DateTimeOffset ReadTime(AsnReader reader) =>
        reader.PeekTag().HasSameClassAndValue(Asn1Tag.UtcTime)
            ? reader.ReadUtcTime(twoDigitYearMax: 2049)
            : reader.ReadGeneralizedTime();
}
