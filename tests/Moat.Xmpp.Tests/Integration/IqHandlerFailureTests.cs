using System.Runtime.Versioning;
using System.Xml.Linq;
using Moat.Xmpp.Client;

namespace Moat.Xmpp.Tests.Integration;

/// <summary>A request handler that fails in a way nobody planned for must still answer: the requester gets an error, never silence.</summary>
[Collection(ProsodyCollection.Name)]
[Trait("Category", "Integration")]
[Trait("Category", "Hostile")]
[SupportedOSPlatform("linux")]
public sealed class IqHandlerFailureTests(ProsodyFixture prosody)
{
    private static readonly XNamespace Client = "jabber:client";
    private static readonly XNamespace Probe = "urn:moat:test:probe";

    public static TheoryData<string> Failures => new() { "invalid-operation", "null-reference", "key-not-found", "io" };

    [Theory]
    [MemberData(nameof(Failures))]
    public async Task A_handler_throwing_an_unexpected_exception_still_answers_with_an_error_and_no_detail(string failure)
    {
        await using var requester = new XmppClient(prosody.OptionsFor(prosody.NewAccount()) with { Resource = "a" });
        await using var handler = new XmppClient(prosody.OptionsFor(prosody.NewAccount()) with { Resource = "b" });
        handler.IqHandler = iq => failure switch
        {
            "invalid-operation" => throw new InvalidOperationException("secret detail /var/lib/moat/key"),
            "null-reference" => throw new NullReferenceException("secret detail /var/lib/moat/key"),
            "key-not-found" => throw new KeyNotFoundException("secret detail /var/lib/moat/key"),
            _ => throw new IOException("secret detail /var/lib/moat/key"),
        };
        await requester.ConnectAsync();
        await handler.ConnectAsync();

        var request = new XElement(Client + "iq", new XAttribute("type", "set"), new XAttribute("to", handler.BoundJid!.ToString()), new XElement(Probe + "probe"));
        var e = await Assert.ThrowsAsync<XmppIqErrorException>(() => requester.IqAsync(request, TimeSpan.FromSeconds(10)));

        XNamespace stanzas = "urn:ietf:params:xml:ns:xmpp-stanzas";
        var error = e.Stanza.Element(Client + "error")!;
        Assert.NotNull(error.Element(stanzas + "internal-server-error"));
        string text = error.Element(stanzas + "text")?.Value ?? string.Empty;
        Assert.Contains("could not be handled", text, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", e.Stanza.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(" at ", text, StringComparison.Ordinal);
        Assert.Equal(1, handler.FailedRequests);
    }

    [Fact]
    public async Task A_handler_failing_with_an_xmpp_exception_answers_with_its_sentence()
    {
        await using var requester = new XmppClient(prosody.OptionsFor(prosody.NewAccount()) with { Resource = "a" });
        await using var handler = new XmppClient(prosody.OptionsFor(prosody.NewAccount()) with { Resource = "b" });
        handler.IqHandler = _ => throw new XmppException("the probe is not supported here.");
        await requester.ConnectAsync();
        await handler.ConnectAsync();

        var request = new XElement(Client + "iq", new XAttribute("type", "get"), new XAttribute("to", handler.BoundJid!.ToString()), new XElement(Probe + "probe"));
        var e = await Assert.ThrowsAsync<XmppIqErrorException>(() => requester.IqAsync(request, TimeSpan.FromSeconds(10)));
        Assert.Contains("the probe is not supported here.", e.Stanza.ToString(), StringComparison.Ordinal);
    }
}
