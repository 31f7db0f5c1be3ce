using Moat.Jobs.Manager;
using Moat.Xmpp.Client;

namespace Moat.Jobs.Tests.Manager;

[Trait("Category", "Hostile")]
public sealed class WorkerAllowListTests
{
    [Fact]
    public void An_empty_list_allows_no_account()
    {
        var allow = new WorkerAllowList([]);
        Assert.True(allow.IsEmpty);
        Assert.False(allow.Allows(Jid.Parse("worker@moat.test/w")));
        Assert.False(allow.Allows(Jid.Parse("host@moat.test/agent")));
    }

    [Fact]
    public void Accounts_are_compared_bare_and_groups_follow_the_roster()
    {
        var allow = new WorkerAllowList(["Worker@Moat.test", "group:workers"]);
        Assert.True(allow.Allows(Jid.Parse("worker@moat.test/any-resource")));
        Assert.False(allow.Allows(Jid.Parse("worker@moat.test.evil/w")));
        Assert.False(allow.Allows(Jid.Parse("host@moat.test/agent")));

        var added = allow.SetRoster([new RosterItem("host@moat.test", "both", null), new RosterItem("w2@moat.test", "both", null) { Groups = ["workers"] }]);
        Assert.Equal(["w2@moat.test"], added);
        Assert.True(allow.Allows(Jid.Parse("w2@moat.test/x")));
        Assert.False(allow.Allows(Jid.Parse("host@moat.test/agent")));

        allow.SetRoster([]);
        Assert.False(allow.Allows(Jid.Parse("w2@moat.test/x")));
    }

    [Theory]
    [InlineData("", "is empty")]
    [InlineData("group:", "names no group")]
    [InlineData("moat.test", "not a bare account JID")]
    [InlineData("worker@moat.test/w1", "not a bare account JID")]
    public void A_bad_entry_is_named_in_one_sentence(string entry, string expected)
    {
        Assert.Contains(expected, WorkerAllowList.Describe(entry), StringComparison.Ordinal);
        var e = Assert.Throws<ArgumentException>(() => new Moat.Jobs.Manager.JobManager(new JobManagerOptions { WorkerAllow = [entry] }, null!));
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }
}
