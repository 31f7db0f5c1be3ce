using System.Security.Cryptography;
using System.Text.Json;
using Moat.Pki.Validation;

namespace Moat.Pki.Tests.Conformance;

/// <summary>Every ECDSA P-256/SHA-256 vector of Wycheproof (DER and P1363 files) against the verifier's ECDSA path.</summary>
[Trait("Category", "Hostile")]
public sealed class WycheproofTests
{
    public static TheoryData<string, int> DerVectors() => Ids("ecdsa_secp256r1_sha256_test.json");

    public static TheoryData<string, int> P1363Vectors() => Ids("ecdsa_secp256r1_sha256_p1363_test.json");

    [Theory]
    [MemberData(nameof(DerVectors))]
    public void DerSignature_GivesWycheproofVerdict(string file, int tcId)
    {
        var (spki, message, signature, result) = Load(file, tcId);

        var valid = VerifyDer(spki, message, signature);

        AssertVerdict(result, valid, tcId);
    }

    [Theory]
    [MemberData(nameof(P1363Vectors))]
    public void P1363Signature_GivesWycheproofVerdict(string file, int tcId)
    {
        var (spki, message, signature, result) = Load(file, tcId);

        bool valid;
        try
        {
            using var key = ECDsa.Create();
            key.ImportSubjectPublicKeyInfo(spki, out _);
            valid = key.VerifyData(message, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        }
        catch (CryptographicException)
        {
            valid = false;
        }

        AssertVerdict(result, valid, tcId);
    }

    // The DER file goes through the same entry point certificate signatures use (SignatureVerifier.Verify),
    // with the vector's public key wrapped as the issuer's SubjectPublicKeyInfo.
    private static bool VerifyDer(byte[] spki, byte[] message, byte[] signature) =>
        SignatureVerifier.Verify(message, signature, new AlgorithmIdentifier(Oids.EcdsaSha256, ReadOnlyMemory<byte>.Empty), spki)
            == SignatureOutcome.Valid;

    private static void AssertVerdict(string result, bool valid, int tcId)
    {
        switch (result)
        {
            case "valid":
                Assert.True(valid, $"tcId {tcId} is valid but was refused");
                break;
            case "invalid":
                Assert.False(valid, $"tcId {tcId} is invalid but was accepted");
                break;
            default:
                // "acceptable" vectors may go either way by the suite's own definition; nothing to assert.
                break;
        }
    }

    private static TheoryData<string, int> Ids(string file)
    {
        var data = new TheoryData<string, int>();
        using var doc = JsonDocument.Parse(File.ReadAllBytes(ConformanceData.PathOf("wycheproof", file)));
        foreach (var group in doc.RootElement.GetProperty("testGroups").EnumerateArray())
        {
            foreach (var test in group.GetProperty("tests").EnumerateArray())
            {
                if (test.GetProperty("result").GetString() != "acceptable")
                {
                    data.Add(file, test.GetProperty("tcId").GetInt32());
                }
            }
        }

        return data;
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, JsonDocument> s_files = new();

    private static (byte[] Spki, byte[] Message, byte[] Signature, string Result) Load(string file, int tcId)
    {
        var doc = s_files.GetOrAdd(file, f => JsonDocument.Parse(File.ReadAllBytes(ConformanceData.PathOf("wycheproof", f))));
        foreach (var group in doc.RootElement.GetProperty("testGroups").EnumerateArray())
        {
            foreach (var test in group.GetProperty("tests").EnumerateArray())
            {
                if (test.GetProperty("tcId").GetInt32() == tcId)
                {
                    return (
                        Convert.FromHexString(group.GetProperty("publicKeyDer").GetString()!),
                        Convert.FromHexString(test.GetProperty("msg").GetString()!),
                        Convert.FromHexString(test.GetProperty("sig").GetString()!),
                        test.GetProperty("result").GetString()!);
                }
            }
        }

        throw new InvalidOperationException($"tcId {tcId} not in {file}");
    }
}
