using System.Runtime.Versioning;
using Moat.Xmpp.Client;
using Moat.Xmpp.Server;

namespace Moat.Xmpp.Tests.Integration;

/// <summary>Uses its own server because it restarts it.</summary>
[Trait("Category", "Integration")]
[SupportedOSPlatform("linux")]
public sealed class RestartTests
{
    [Fact]
    public async Task The_client_reconnects_after_the_server_restarts()
    {
        await using var server = await ProsodyServer.StartAsync(ProsodyOptions.Default with { AllowPlainWithoutTls = true });
        server.AddAccount("r1", "pw");
        await using var client = new XmppClient(XmppClientOptions.Default with
        {
            Host = server.Address,
            Port = server.Port,
            Jid = "r1@moat.test",
            Password = "pw",
            Tls = TlsMode.Disabled,
            ReconnectMinDelay = TimeSpan.FromMilliseconds(50),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(500),
        });
        var lost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var back = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int connects = 0;
        client.Disconnected += _ => lost.TrySetResult();
        client.Connected += () =>
        {
            if (Interlocked.Increment(ref connects) == 2)
            {
                back.TrySetResult();
            }
        };
        await client.ConnectAsync();
        Assert.True(client.StreamManagementEnabled);
        await server.RestartAsync();
        await lost.Task.WaitAsync(TimeSpan.FromSeconds(15));
        await back.Task.WaitAsync(TimeSpan.FromSeconds(15));
        await client.PingAsync();
    }

    [Fact]
    public async Task A_missing_prosody_is_reported_clearly()
    {
        var e = await Assert.ThrowsAsync<ProsodyException>(() => ProsodyServer.StartAsync(ProsodyOptions.Default with { ProsodyExecutable = "/nonexistent/prosody" }));
        Assert.Contains("not installed", e.Message, StringComparison.Ordinal);
    }
}
