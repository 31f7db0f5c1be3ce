using System.Xml.Linq;
using Moat.Jobs.Protocol;
using Moat.Jobs.Store;

namespace Moat.Jobs.Tests.Protocol;

[Trait("Category", "Hostile")]
public sealed class JobProtocolTests
{
    private static readonly XNamespace Jobs = "urn:moat:jobs:0";

    private static readonly TaskAssignment[] Batch =
    [
        new(10, 1, 0, 2, "/bin/true", [], TimeSpan.FromSeconds(1)),
        new(11, 1, 1, 1, "/bin/true", [], TimeSpan.FromSeconds(1)),
    ];

    private static XElement Answer(params XElement[] results) =>
        new(XName.Get("iq", "jabber:client"), new XElement(Jobs + "results", results));

    private static XElement Result(object id, object attempt, object exit, string output = "ok") =>
        new(Jobs + "result", new XAttribute("id", id), new XAttribute("attempt", attempt), new XAttribute("exit", exit), output);

    [Fact]
    public void Only_the_batchs_tasks_at_their_attempt_once_with_sane_values_are_accepted()
    {
        var answer = JobProtocol.CheckResults(Answer(
            Result(10, 2, 0),
            Result(10, 2, 0, "again"),         // duplicate
            Result(11, 2, 0),                  // another attempt
            Result(12, 1, 0),                  // never dispatched in this batch
            Result(11, 1, 256),                // no process exits 256
            Result(11, 1, -1),
            Result(11, 1, 0, new string('x', 101)),
            Result(11, 1, 3, "fine")), Batch, maxOutputChars: 100);

        Assert.Null(answer.Malformed);
        Assert.Equal(6, answer.Refused);
        Assert.Equal([(10L, 2, 0, "ok"), (11L, 1, 3, "fine")], answer.Accepted.Select(r => (r.TaskId, r.Attempt, r.ExitCode, r.Output)));
    }

    [Theory]
    [InlineData("<iq xmlns='jabber:client'/>")]
    [InlineData("<iq xmlns='jabber:client'><results xmlns='urn:moat:jobs:0'><result id='10'/></results></iq>")]
    [InlineData("<iq xmlns='jabber:client'><results xmlns='urn:moat:jobs:0'><result id='10' attempt='2' exit='99999999999999999999'/></results></iq>")]
    [InlineData("<iq xmlns='jabber:client'><results xmlns='urn:moat:jobs:0'><result id='1e3' attempt='2' exit='0'/></results></iq>")]
    public void An_unreadable_answer_is_malformed_and_accepts_nothing(string iq)
    {
        var answer = JobProtocol.CheckResults(XElement.Parse(iq), Batch, 100);
        Assert.NotNull(answer.Malformed);
        Assert.Empty(answer.Accepted);
    }
}
