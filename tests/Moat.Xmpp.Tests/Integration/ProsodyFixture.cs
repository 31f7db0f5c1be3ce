using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Moat.Xmpp.Client;
using Moat.Xmpp.Server;

namespace Moat.Xmpp.Tests.Integration;

/// <summary>One real Prosody for the integration tests: moat.test stores SCRAM-SHA-1 keys, sha256.test SCRAM-SHA-256.</summary>
[SupportedOSPlatform("linux")]
public sealed class ProsodyFixture : IAsyncLifetime
{
    public const string Password = "s3cret-pass";
    private int counter;

    public ProsodyServer Server { get; private set; } = null!;

    public X509Certificate2 Certificate { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=moat.test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("moat.test");
        san.AddDnsName("sha256.test");
        request.CertificateExtensions.Add(san.Build());
        Certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        Server = await ProsodyServer.StartAsync(ProsodyOptions.Default with
        {
            Domains = [new("moat.test"), new("sha256.test", "SHA-256")],
            Certificate = Certificate,
        });
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();

    /// <summary>Makes a fresh account and returns its JID.</summary>
    public string NewAccount(string domain = "moat.test")
    {
        string user = "u" + Interlocked.Increment(ref counter);
        Server.AddAccount(user, Password, domain);
        return $"{user}@{domain}";
    }

    public XmppClientOptions OptionsFor(string jid) => XmppClientOptions.Default with
    {
        Host = Server.Address,
        Port = Server.Port,
        Jid = jid,
        Password = Password,
        CertificateValidation = (_, cert, _, _) => cert is not null && cert.GetCertHashString() == Certificate.GetCertHashString(),
        IqTimeout = TimeSpan.FromSeconds(10),
    };
}

[CollectionDefinition(Name)]
public sealed class ProsodyCollection : ICollectionFixture<ProsodyFixture>
{
    public const string Name = "prosody";
}
