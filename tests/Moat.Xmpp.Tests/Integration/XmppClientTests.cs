using System.Runtime.Versioning;
using System.Threading.Channels;
using System.Xml.Linq;
using Moat.Xmpp.Client;

namespace Moat.Xmpp.Tests.Integration;

[Collection(ProsodyCollection.Name)]
[Trait("Category", "Integration")]
[SupportedOSPlatform("linux")]
public sealed class XmppClientTests(ProsodyFixture prosody)
{
    private static readonly XNamespace Client = "jabber:client";

    [Theory]
    [InlineData("moat.test", "SCRAM-SHA-1")]
    [InlineData("sha256.test", "SCRAM-SHA-256")]
    [InlineData("moat.test", "PLAIN")]
    public async Task Logs_in_over_starttls_with_each_mechanism(string domain, string mechanism)
    {
        string jid = prosody.NewAccount(domain);
        await using var client = new XmppClient(prosody.OptionsFor(jid) with { Mechanisms = [mechanism], Resource = "r1" });
        await client.ConnectAsync();
        Assert.True(client.IsEncrypted);
        Assert.Equal(mechanism, client.Mechanism);
        Assert.Equal($"{jid}/r1", client.BoundJid!.ToString());
        await client.PingAsync();
    }

    [Fact]
    public async Task A_wrong_password_fails_with_a_clear_error()
    {
        string jid = prosody.NewAccount();
        await using var client = new XmppClient(prosody.OptionsFor(jid) with { Password = "wrong", Reconnect = false });
        var e = await Assert.ThrowsAsync<XmppAuthenticationException>(() => client.ConnectAsync());
        Assert.Contains("not-authorized", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plain_is_refused_without_tls_unless_allowed()
    {
        string jid = prosody.NewAccount();
        await using var client = new XmppClient(prosody.OptionsFor(jid) with { Tls = TlsMode.Disabled, Mechanisms = ["PLAIN"], Reconnect = false });
        await Assert.ThrowsAsync<XmppAuthenticationException>(() => client.ConnectAsync());
    }

    [Fact]
    public async Task Tls_is_refused_when_the_certificate_is_not_trusted()
    {
        string jid = prosody.NewAccount();
        await using var client = new XmppClient(prosody.OptionsFor(jid) with { CertificateValidation = null, Reconnect = false });
        await Assert.ThrowsAnyAsync<Exception>(() => client.ConnectAsync());
        Assert.False(client.IsConnected);
    }

    [Fact]
    public async Task Messages_and_iq_round_trips_flow_between_two_clients()
    {
        await using var a = new XmppClient(prosody.OptionsFor(prosody.NewAccount()) with { Resource = "a" });
        await using var b = new XmppClient(prosody.OptionsFor(prosody.NewAccount()) with { Resource = "b" });
        var messages = Channel.CreateUnbounded<XElement>();
        b.MessageReceived += m => messages.Writer.TryWrite(m);
        XNamespace echo = "urn:moat:test:echo";
        b.IqHandler = iq => ValueTask.FromResult<XElement?>(XmppClient.ResultFor(iq, new XElement(echo + "echo", iq.Element(echo + "echo")!.Value.ToUpperInvariant())));
        await a.ConnectAsync();
        await b.ConnectAsync();

        await a.SendMessageAsync(b.BoundJid!.ToString(), "hello <b> & 'friends'");
        var got = await messages.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("hello <b> & 'friends'", got.Element(Client + "body")!.Value);
        Assert.Equal(a.BoundJid!.ToString(), got.Attribute("from")!.Value);

        var answers = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => a.IqAsync(new XElement(Client + "iq",
            new XAttribute("type", "get"), new XAttribute("to", b.BoundJid!.ToString()), new XElement(echo + "echo", "x" + i)))));
        Assert.Equal(Enumerable.Range(0, 50).Select(i => "X" + i), answers.Select(r => r.Element(echo + "echo")!.Value));
        await a.PingAsync(b.BoundJid!.ToString());
    }

    [Fact]
    public async Task An_iq_nobody_answers_times_out_and_an_unhandled_one_errors()
    {
        await using var a = new XmppClient(prosody.OptionsFor(prosody.NewAccount()));
        await using var b = new XmppClient(prosody.OptionsFor(prosody.NewAccount()));
        await a.ConnectAsync();
        await b.ConnectAsync();
        XNamespace unknown = "urn:moat:test:unknown";
        var iq = new XElement(Client + "iq", new XAttribute("type", "get"), new XAttribute("to", b.BoundJid!.ToString()), new XElement(unknown + "q"));
        var error = await Assert.ThrowsAsync<XmppIqErrorException>(() => a.IqAsync(iq));
        Assert.Contains("service-unavailable", error.Message, StringComparison.Ordinal);

        b.IqHandler = _ => new ValueTask<XElement?>(new TaskCompletionSource<XElement?>().Task);
        var silent = new XElement(Client + "iq", new XAttribute("type", "get"), new XAttribute("to", b.BoundJid!.ToString()), new XElement(unknown + "q"));
        await Assert.ThrowsAsync<TimeoutException>(() => a.IqAsync(silent, TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task An_answer_from_anyone_but_the_addressee_is_ignored()
    {
        await using var a = new XmppClient(prosody.OptionsFor(prosody.NewAccount()));
        await using var b = new XmppClient(prosody.OptionsFor(prosody.NewAccount()));
        await using var mallory = new XmppClient(prosody.OptionsFor(prosody.NewAccount()));
        await a.ConnectAsync();
        await b.ConnectAsync();
        await mallory.ConnectAsync();
        b.IqHandler = _ => new ValueTask<XElement?>(new TaskCompletionSource<XElement?>().Task);
        XNamespace q = "urn:moat:test:q";
        var iq = new XElement(Client + "iq", new XAttribute("type", "get"), new XAttribute("to", b.BoundJid!.ToString()), new XAttribute("id", "guessed-1"), new XElement(q + "q"));
        var pending = a.IqAsync(iq, TimeSpan.FromSeconds(2));
        await mallory.SendAsync(new XElement(Client + "iq", new XAttribute("type", "result"), new XAttribute("id", "guessed-1"), new XAttribute("to", a.BoundJid!.ToString())));
        await mallory.PingAsync(a.BoundJid!.ToString());
        await Assert.ThrowsAsync<TimeoutException>(() => pending);
    }

    [Fact]
    public async Task Subscribed_contacts_see_presence_and_see_a_killed_client_go_unavailable()
    {
        string watcherJid = prosody.NewAccount();
        string workerJid = prosody.NewAccount();
        await using var watcher = new XmppClient(prosody.OptionsFor(watcherJid) with { Resource = "w" });
        var worker = new XmppClient(prosody.OptionsFor(workerJid) with { Resource = "job", Reconnect = false });
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

    private static async Task NextAsync(Channel<XElement> channel, Func<XElement, bool> match)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (!match(await channel.Reader.ReadAsync(timeout.Token)))
        {
        }
    }
}
