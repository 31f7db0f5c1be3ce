using System.Runtime.Versioning;
using System.Threading.Channels;
using System.Xml.Linq;
using Moat.Xmpp.Client;

namespace Moat.Xmpp.Tests.Integration;

/// <summary>The client against a second, independent server implementation: a real ejabberd started by the fixture.</summary>
[Collection(EjabberdCollection.Name)]
[Trait("Category", "Integration")]
[SupportedOSPlatform("linux")]
public sealed class EjabberdClientTests(EjabberdFixture ejabberd)
{
    private static readonly XNamespace Client = "jabber:client";

    [Theory]
    [InlineData("ej.test", "SCRAM-SHA-1")]
    [InlineData("sha256.test", "SCRAM-SHA-256")]
    [InlineData("ej.test", "PLAIN")]
    public async Task Logs_in_to_ejabberd_over_starttls_with_each_mechanism(string domain, string mechanism)
    {
        string jid = await ejabberd.NewAccountAsync(domain);
        await using var client = new XmppClient(ejabberd.OptionsFor(jid) with { Mechanisms = [mechanism], Resource = "r1" });
        await client.ConnectAsync();
        Assert.True(client.IsEncrypted);
        Assert.Equal(mechanism, client.Mechanism);
        Assert.Equal($"{jid}/r1", client.BoundJid!.ToString());
        Assert.True(client.StreamManagementEnabled);
        await client.PingAsync();
    }

    [Fact]
    public async Task A_wrong_password_is_refused_by_ejabberd()
    {
        string jid = await ejabberd.NewAccountAsync();
        await using var client = new XmppClient(ejabberd.OptionsFor(jid) with { Password = "wrong", Reconnect = false });
        var e = await Assert.ThrowsAsync<XmppAuthenticationException>(() => client.ConnectAsync());
        Assert.Contains("not-authorized", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Iq_round_trips_and_messages_flow_through_ejabberd()
    {
        await using var a = new XmppClient(ejabberd.OptionsFor(await ejabberd.NewAccountAsync()) with { Resource = "a" });
        await using var b = new XmppClient(ejabberd.OptionsFor(await ejabberd.NewAccountAsync()) with { Resource = "b" });
        var messages = Channel.CreateUnbounded<XElement>();
        b.MessageReceived += m => messages.Writer.TryWrite(m);
        XNamespace echo = "urn:moat:test:echo";
        b.IqHandler = iq => ValueTask.FromResult<XElement?>(XmppClient.ResultFor(iq, new XElement(echo + "echo", iq.Element(echo + "echo")!.Value.ToUpperInvariant())));
        await a.ConnectAsync();
        await b.ConnectAsync();

        await a.SendMessageAsync(b.BoundJid!.ToString(), "hello <ejabberd> & 'friends'");
        var got = await messages.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("hello <ejabberd> & 'friends'", got.Element(Client + "body")!.Value);

        var answers = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => a.IqAsync(new XElement(Client + "iq",
            new XAttribute("type", "get"), new XAttribute("to", b.BoundJid!.ToString()), new XElement(echo + "echo", "x" + i)))));
        Assert.Equal(Enumerable.Range(0, 50).Select(i => "X" + i), answers.Select(r => r.Element(echo + "echo")!.Value));

        XNamespace unknown = "urn:moat:test:unknown";
        b.IqHandler = null;
        var error = await Assert.ThrowsAsync<XmppIqErrorException>(() => a.IqAsync(new XElement(Client + "iq",
            new XAttribute("type", "get"), new XAttribute("to", b.BoundJid!.ToString()), new XElement(unknown + "q"))));
        Assert.Contains("service-unavailable", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ejabberd_delivers_subscribed_presence_and_the_unavailable_of_a_killed_client()
    {
        string watcherJid = await ejabberd.NewAccountAsync();
        string workerJid = await ejabberd.NewAccountAsync();
        await using var watcher = new XmppClient(ejabberd.OptionsFor(watcherJid) with { Resource = "w" });
        var worker = new XmppClient(ejabberd.OptionsFor(workerJid) with { Resource = "job", Reconnect = false });
        try
        {
            var presences = Channel.CreateUnbounded<XElement>();
            watcher.PresenceReceived += p => presences.Writer.TryWrite(p);
            worker.PresenceReceived += p =>
            {
                if (p.Attribute("type")?.Value == "subscribe")
                {
                    _ = worker.SendSubscriptionAsync(p.Attribute("from")!.Value, "subscribed").AsTask();
                }
            };
            await watcher.ConnectAsync();
            await worker.ConnectAsync();
            await watcher.SendSubscriptionAsync(workerJid, "subscribe");
            await NextAsync(presences, p => p.Attribute("from")?.Value == $"{workerJid}/job" && p.Attribute("type") is null);
            var roster = await watcher.GetRosterAsync();
            Assert.Contains(roster, r => r.Jid == workerJid && r.Subscription is "to" or "both");

            worker.AbortSocket();
            await NextAsync(presences, p => p.Attribute("from")?.Value == $"{workerJid}/job" && p.Attribute("type")?.Value == "unavailable");
        }
        finally
        {
            await worker.DisposeAsync();
        }
    }

    [Fact]
    public async Task The_client_reconnects_after_ejabberd_ends_its_session()
    {
        string jid = await ejabberd.NewAccountAsync();
        await using var client = new XmppClient(ejabberd.OptionsFor(jid) with
        {
            Resource = "k",
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
        var kicked = await ejabberd.KickAsync(client.BoundJid!);
        Assert.DoesNotContain("error", kicked, StringComparison.OrdinalIgnoreCase);
        await lost.Task.WaitAsync(TimeSpan.FromSeconds(15));
        await back.Task.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.True(client.IsConnected);
        await client.PingAsync();
    }

    private static async Task NextAsync(Channel<XElement> channel, Func<XElement, bool> match)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (!match(await channel.Reader.ReadAsync(timeout.Token)))
        {
        }
    }
}
