using System.Net;
using System.Net.Sockets;
using System.Text;
using Moat.Xmpp.Client;

namespace Moat.Xmpp.Tests.Integration;

/// <summary>A fake server on loopback that answers with hostile XML: the client must fail cleanly, not hang or expand.</summary>
[Trait("Category", "Integration")]
public sealed class HostileServerTests
{
    [Theory]
    [InlineData("<!DOCTYPE x [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>")]
    [InlineData("this is not xml at all")]
    [InlineData("<stream:features><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a><a>")]
    public async Task Connect_fails_with_a_stream_error_on_hostile_input(string hostile)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            int port = ((IPEndPoint)listener.LocalEndpoint).Port;
            var serve = Task.Run(async () =>
            {
                using var socket = await listener.AcceptTcpClientAsync();
                var stream = socket.GetStream();
                var buffer = new byte[4096];
                Assert.True(await stream.ReadAsync(buffer) > 0);
                await stream.WriteAsync(Encoding.UTF8.GetBytes(
                    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='1' version='1.0'>" + hostile));
                try
                {
                    while (await stream.ReadAsync(buffer) > 0)
                    {
                    }
                }
                catch (IOException)
                {
                    // The client resets the connection when it gives up; that is the clean end we expect.
                }
            });
            await using var client = new XmppClient(XmppClientOptions.Default with
            {
                Host = "127.0.0.1", Port = port, Jid = "a@moat.test", Password = "x", Reconnect = false, MaxDepth = 16,
                ConnectTimeout = TimeSpan.FromSeconds(10),
            });
            await Assert.ThrowsAsync<Moat.Xmpp.Xml.XmppStreamException>(() => client.ConnectAsync());
            await serve.WaitAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            listener.Stop();
        }
    }
}
