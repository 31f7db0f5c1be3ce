using System.CommandLine;
using System.Text.Json;
using Moat.Pki.Cli;

namespace Moat.Pki.Tests.Cli;

public sealed class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("moat-pki-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task FullFlow_IssueVerifyRevokeVerify()
    {
        await Ok(Pki, "init", "--cert", P("root.crt"), "--key", P("root.key"));
        await Ok(Pki, "host-ca", "--ca-cert", P("root.crt"), "--ca-key", P("root.key"), "--name", "host1",
            "--prefix", "198.18.0.0/16", "--cert", P("host.crt"), "--key", P("host.key"));
        await Ok(Pki, "node-cert", "--ca-cert", P("root.crt"), "--ca-key", P("root.key"), "--name", "A",
            "--address", "198.19.1.5", "--cert", P("A.crt"), "--key", P("A.key"));
        await Ok(Pki, "keygen", "--key", P("user.key"), "--public", P("user.pub"));
        await Ok(AuthCert, "issue", "--node-cert", P("A.crt"), "--node-key", P("A.key"), "--user-key", P("user.pub"),
            "--address", "198.19.1.5", "--ttl", "1h", "--out", P("a-auth.pem"));
        await Ok(AuthCert, "issue", "--node-cert", P("host.crt"), "--node-key", P("host.key"), "--user-key", P("user.pub"),
            "--address", "198.18.4.4", "--out", P("sandbox-auth.pem"));

        var (code, output, _) = await Run(AuthCert, "verify", "--root", P("root.crt"), "--authcert", P("a-auth.pem"),
            "--address", "198.19.1.5", "--user-key", P("user.pub"), "--json");
        Assert.Equal(0, code);
        using (var doc = JsonDocument.Parse(output))
        {
            Assert.True(doc.RootElement.GetProperty("open").GetBoolean());
            Assert.Equal("198.19.1.5", doc.RootElement.GetProperty("address").GetString());
            Assert.Equal("CN=A", doc.RootElement.GetProperty("issuerChain")[0].GetString());
        }

        await Ok(Pki, "crl", "--ca-cert", P("host.crt"), "--ca-key", P("host.key"), "--out", P("host-before.crl"));
        await Ok(AuthCert, "verify", "--root", P("root.crt"), "--authcert", P("sandbox-auth.pem"), "--crl", P("host-before.crl"));
        await Ok(Pki, "revoke", "--ca-cert", P("host.crt"), "--ca-key", P("host.key"), "--address", "198.18.4.4");
        await Ok(Pki, "crl", "--ca-cert", P("host.crt"), "--ca-key", P("host.key"), "--out", P("host.crl"));

        var (refused, _, error) = await Run(AuthCert, "verify", "--root", P("root.crt"), "--authcert", P("sandbox-auth.pem"), "--crl", P("host.crl"));
        Assert.Equal(1, refused);
        Assert.Contains("revoked", error, StringComparison.Ordinal);
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task PrivateKeys_AreWrittenOwnerOnly()
    {
        await Ok(Pki, "init", "--cert", P("root.crt"), "--key", P("root.key"));
        await Ok(Pki, "keygen", "--key", P("user.key"), "--public", P("user.pub"));

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(P("root.key")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(P("user.key")));
    }

    [Fact]
    public async Task Init_RefusesToOverwriteAKey()
    {
        await Ok(Pki, "init", "--cert", P("root.crt"), "--key", P("root.key"));

        var (code, _, error) = await Run(Pki, "init", "--cert", P("root.crt"), "--key", P("root.key"));

        Assert.Equal(2, code);
        Assert.Contains("already exists", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("198.18.0.1/16", "--prefix")]
    [InlineData("not-a-prefix", "--prefix")]
    public async Task HostCa_WithBadPrefix_SaysWhatIsValid(string prefix, string named)
    {
        await Ok(Pki, "init", "--cert", P("root.crt"), "--key", P("root.key"));

        var (code, _, error) = await Run(Pki, "host-ca", "--ca-cert", P("root.crt"), "--ca-key", P("root.key"), "--name", "h",
            "--prefix", prefix, "--cert", P("h.crt"), "--key", P("h.key"));

        Assert.Equal(2, code);
        Assert.StartsWith($"{named} '{prefix}' is not an address prefix", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_WithGarbagePem_SaysWhichFile()
    {
        await Ok(Pki, "init", "--cert", P("root.crt"), "--key", P("root.key"));
        await File.WriteAllTextAsync(P("junk.pem"), "hello, this is not a certificate\n");

        var (code, _, error) = await Run(AuthCert, "verify", "--root", P("root.crt"), "--authcert", P("junk.pem"));

        Assert.Equal(2, code);
        Assert.Contains("junk.pem holds no '-----BEGIN CERTIFICATE-----' block", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Issue_WithBadTtl_SaysWhatIsValid()
    {
        await Ok(Pki, "init", "--cert", P("root.crt"), "--key", P("root.key"));
        await Ok(Pki, "node-cert", "--ca-cert", P("root.crt"), "--ca-key", P("root.key"), "--name", "A",
            "--address", "198.19.1.5", "--cert", P("A.crt"), "--key", P("A.key"));
        await Ok(Pki, "keygen", "--key", P("user.key"), "--public", P("user.pub"));

        var (code, _, error) = await Run(AuthCert, "issue", "--node-cert", P("A.crt"), "--node-key", P("A.key"),
            "--user-key", P("user.pub"), "--address", "198.19.1.5", "--ttl", "soon");

        Assert.Equal(2, code);
        Assert.Contains("--ttl 'soon' is not a positive duration", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("pki", "init")]
    [InlineData("pki", "host-ca")]
    [InlineData("pki", "node-cert")]
    [InlineData("pki", "keygen")]
    [InlineData("pki", "revoke")]
    [InlineData("pki", "crl")]
    [InlineData("authcert", "issue")]
    [InlineData("authcert", "verify")]
    public async Task EveryVerb_HelpTeachesWithAnExample(string group, string verb)
    {
        var root = new RootCommand { PkiCommands.Create(), AuthCertCommands.Create() };

        var (code, output, _) = await Run(root, group, verb, "--help");

        Assert.Equal(0, code);
        Assert.Contains($"Example: moat {group} {verb}", output, StringComparison.Ordinal);
    }

    private static Command Pki => PkiCommands.Create();

    private static Command AuthCert => AuthCertCommands.Create();

    private string P(string name) => Path.Combine(_dir, name);

    private static async Task Ok(Command command, params string[] args)
    {
        var (code, output, error) = await Run(command, args);
        Assert.True(code == 0, $"{string.Join(' ', args)} exited {code}: {error}{output}");
    }

    private static async Task<(int Code, string Output, string Error)> Run(Command command, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await command.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
        return (code, output.ToString(), error.ToString());
    }
}
