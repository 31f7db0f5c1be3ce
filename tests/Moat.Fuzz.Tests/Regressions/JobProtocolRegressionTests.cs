using System.Xml.Linq;
using Moat.Jobs.Protocol;
using Moat.Jobs.Store;

namespace Moat.Fuzz.Tests.Regressions;

/// <summary>Inputs the fuzzer found (minimised): a run request or result batch with missing or overflowing numbers.</summary>
[Trait("Category", "Hostile")]
public sealed class JobProtocolRegressionTests
{
    private static readonly XNamespace Ns = "urn:moat:jobs:0";

    [Theory]
    [InlineData("<task d=''><cmd></cmd><arg></arg></task>", "id")]
    [InlineData("<task id='1' index='0' timeout-ms='10'><cmd>x</cmd></task>", "attempt")]
    [InlineData("<task id='99999999999999999999' attempt='1'><cmd>x</cmd></task>", "id")]
    [InlineData("<task id='1' attempt='1' index='2147483648'><cmd>x</cmd></task>", "index")]
    [InlineData("<task id='1' attempt='1' timeout-ms='9223372036854775807'><cmd>x</cmd></task>", "timeout-ms")]
    [InlineData("<task id='1' attempt='1' timeout-ms='-5'><cmd>x</cmd></task>", "timeout-ms")]
    public void ParseRun_MalformedTask_RefusedWithFormatExceptionNamingTheAttribute(string task, string attribute)
    {
        var run = XElement.Parse($"<run xmlns='urn:moat:jobs:0'>{task}</run>");

        var e = Assert.Throws<FormatException>(() => JobProtocol.ParseRun(run));

        Assert.Contains($"'{attribute}'", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("<result d='' t='' i='' u=''></result>")]
    [InlineData("<result id='1' attempt='1'/>")]
    [InlineData("<result id='1' attempt='4294967296x' exit='0'/>")]
    public void CheckResults_MalformedResult_IsMalformedAndAcceptsNothing(string result)
    {
        var iq = new XElement("iq", XElement.Parse($"<results xmlns='urn:moat:jobs:0'>{result}</results>"));
        IReadOnlyList<TaskAssignment> batch = [new TaskAssignment(1, 1, 0, 1, "/bin/true", [], TimeSpan.FromSeconds(1))];

        var answer = JobProtocol.CheckResults(iq, batch, 1024);

        Assert.NotNull(answer.Malformed);
        Assert.Empty(answer.Accepted);
    }

    [Fact]
    public void ParseRun_WellFormedBatch_StillParses()
    {
        var run = new XElement(Ns + "run", new XElement(Ns + "task", new XAttribute("id", 17), new XAttribute("attempt", 2), new XAttribute("index", 3),
            new XAttribute("timeout-ms", 60000), new XElement(Ns + "cmd", "echo"), new XElement(Ns + "arg", "a")));

        var task = Assert.Single(JobProtocol.ParseRun(run));

        Assert.Equal((17L, 2, 3, TimeSpan.FromMinutes(1)), (task.TaskId, task.Attempt, task.Index, task.Timeout));
    }
}
