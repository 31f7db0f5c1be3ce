using System.Runtime.Versioning;
using Moat.Xmpp.Client;
using Moat.Xmpp.Server;

namespace Moat.Xmpp.Tests.Integration;

/// <summary>Prosody with and without Nagle's algorithm (`moat xmpp serve --no-nagle`): it starts with the setting and
/// serves clients either way.</summary>
[Trait("Category", "Integration")]
[SupportedOSPlatform("linux")]
public sealed class NagleSettingTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Prosody_serves_with_Nagle_on_or_off_as_configured(bool nagle)
    {
        await using var server = await ProsodyServer.StartAsync(ProsodyOptions.Default with { AllowPlainWithoutTls = true, Nagle = nagle });
        server.AddAccount("n1", "pw");
        await using var client = new XmppClient(XmppClientOptions.Default with
        {
            Host = server.Address,
            Port = server.Port,
            Jid = "n1@moat.test",
            Password = "pw",
            Tls = TlsMode.Disabled,
        });

        await client.ConnectAsync();
        await client.PingAsync();

        var config = await File.ReadAllTextAsync(server.ConfigPath);
        Assert.Equal(!nagle, config.Contains("network_settings = { nagle = false }", StringComparison.Ordinal));
    }
}
