using System.Security.Cryptography;
using System.Text;
using Moat.Xmpp.Sasl;

namespace Moat.Xmpp.Tests.Sasl;

public sealed class ScramMechanismTests
{
    [Fact]
    public void Sha1_matches_the_RFC5802_example()
    {
        var scram = new ScramMechanism(HashAlgorithmName.SHA1, "user", "pencil", "fyko+d2lbbFgONRv9qkxdawL");
        Assert.Equal("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL", Encoding.UTF8.GetString(scram.InitialResponse()));
        var final = scram.Respond(Encoding.UTF8.GetBytes("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"));
        Assert.Equal("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", Encoding.UTF8.GetString(final!));
        Assert.True(scram.VerifySuccess(Encoding.UTF8.GetBytes("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")));
    }

    [Fact]
    public void Sha256_matches_the_RFC7677_example()
    {
        var scram = new ScramMechanism(HashAlgorithmName.SHA256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        scram.InitialResponse();
        var final = scram.Respond(Encoding.UTF8.GetBytes("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"));
        Assert.Equal("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", Encoding.UTF8.GetString(final!));
        Assert.True(scram.VerifySuccess(Encoding.UTF8.GetBytes("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")));
    }

    [Fact]
    public void A_wrong_server_signature_is_rejected()
    {
        var scram = new ScramMechanism(HashAlgorithmName.SHA1, "user", "pencil", "fyko+d2lbbFgONRv9qkxdawL");
        scram.InitialResponse();
        scram.Respond(Encoding.UTF8.GetBytes("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096"));
        Assert.False(scram.VerifySuccess(Encoding.UTF8.GetBytes("v=AAAApqV8S7suAoZWja4dJRkFsKQ=")));
    }

    [Theory]
    [InlineData("r=someoneelse,s=QSXCR+Q6sek8bf92,i=4096")]
    [InlineData("r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=0")]
    [InlineData("r=fyko+d2lbbFgONRv9qkxdawLx,s=not base64!,i=4096")]
    [InlineData("garbage")]
    public void A_malformed_or_foreign_challenge_gets_no_response(string challenge)
    {
        var scram = new ScramMechanism(HashAlgorithmName.SHA1, "user", "pencil", "fyko+d2lbbFgONRv9qkxdawL");
        scram.InitialResponse();
        Assert.Null(scram.Respond(Encoding.UTF8.GetBytes(challenge)));
    }
}
