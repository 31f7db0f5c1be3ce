using System.Diagnostics;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Moat.Xmpp.Client;
using Moat.Xmpp.Server;

namespace Moat.Xmpp.Tests.Integration;

/// <summary>
/// The managed Prosody's secrets (SCRAM keys, TLS key, config, log) against local users: every one 0600 in 0700
/// folders, owned by prosody, even in a data folder an older version left world-readable. Own server: own folder.
/// </summary>
[Trait("Category", "Integration")]
[Trait("Category", "Hostile")]
[SupportedOSPlatform("linux")]
public sealed class ProsodySecretsTests : IDisposable
{
    private const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    private readonly string parent = Directory.CreateTempSubdirectory("moat-prosody-secrets-").FullName;

    public void Dispose() => Directory.Delete(parent, recursive: true);

    [Fact]
    public async Task Accounts_key_config_and_log_are_readable_by_prosody_alone()
    {
        // A data folder as an older version left it: world-readable, with a world-readable log holding history.
        File.SetUnixFileMode(parent, (UnixFileMode)0x1ED);
        var data = Path.Combine(parent, "prosody");
        Directory.CreateDirectory(data);
        File.SetUnixFileMode(data, (UnixFileMode)0x1ED);
        await File.WriteAllTextAsync(Path.Combine(data, "prosody.log"), "history\n");
        File.SetUnixFileMode(Path.Combine(data, "prosody.log"), (UnixFileMode)0x1A4);

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var certificate = new CertificateRequest("CN=moat.test", key, HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        await using var server = await ProsodyServer.StartAsync(ProsodyOptions.Default with
        {
            DataDirectory = data,
            Certificate = certificate,
            AllowPlainWithoutTls = true,
        });
        server.AddAccount("alice", "pw");

        // Prosody (user prosody) still reads the account it was given.
        await using (var client = new XmppClient(XmppClientOptions.Default with
        {
            Host = server.Address,
            Port = server.Port,
            Jid = "alice@moat.test",
            Password = "pw",
            Tls = TlsMode.Disabled,
        }))
        {
            await client.ConnectAsync();
        }

        var secrets = new[] { server.ConfigPath, Path.Combine(data, "server.key"), server.LogPath, Path.Combine(data, "data", "moat%2etest", "accounts", "alice.dat") };
        foreach (var file in secrets)
        {
            Assert.True(File.Exists(file), file);
            Assert.True((File.GetUnixFileMode(file) & GroupOrOther) == 0, $"{file} is {File.GetUnixFileMode(file)}");
        }

        foreach (var entry in Directory.EnumerateFileSystemEntries(data, "*", SearchOption.AllDirectories).Append(data))
        {
            Assert.True((File.GetUnixFileMode(entry) & GroupOrOther) == 0, $"{entry} is {File.GetUnixFileMode(entry)}");
        }

        // Outcome for a local user: nothing to read, even by path; the old log's history is still there.
        foreach (var file in secrets)
        {
            Assert.NotEqual(0, AsNobody("cat", file));
        }

        Assert.StartsWith("history\n", await File.ReadAllTextAsync(server.LogPath), StringComparison.Ordinal);
    }

    private static int AsNobody(params string[] command)
    {
        var start = new ProcessStartInfo("setpriv") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--reuid=65534", "--regid=65534", "--clear-groups", "--" }.Concat(command))
        {
            start.ArgumentList.Add(a);
        }

        using var p = Process.Start(start)!;
        p.StandardOutput.ReadToEnd();
        p.StandardError.ReadToEnd();
        p.WaitForExit();
        return p.ExitCode;
    }
}
