using Moat.Xmpp.Client;

namespace Moat.Xmpp.Tests.Client;

public sealed class JidTests
{
    [Fact]
    public void Parses_and_prints_a_full_jid()
    {
        var jid = Jid.Parse("Worker1@Moat.Test/Res/x");
        Assert.Equal(new Jid("worker1", "moat.test", "Res/x"), jid);
        Assert.Equal("worker1@moat.test", jid.Bare.ToString());
        Assert.Equal("worker1@moat.test/Res/x", jid.ToString());
    }

    [Fact]
    public void Backoff_doubles_and_stays_bounded()
    {
        var client = new XmppClient(XmppClientOptions.Default with
        {
            Jid = "a@b",
            ReconnectMinDelay = TimeSpan.FromMilliseconds(100),
            ReconnectMaxDelay = TimeSpan.FromSeconds(2),
            Random = new Random(1),
        });
        Assert.InRange(client.BackoffDelay(0).TotalMilliseconds, 100, 125);
        Assert.InRange(client.BackoffDelay(2).TotalMilliseconds, 400, 500);
        Assert.Equal(2000, client.BackoffDelay(50).TotalMilliseconds);
    }
}
