using Moat.Containment.Flows;

namespace Moat.Host.Tests.Integration;

/// <summary>Waits on the agent's flow log, reading it as `moat flows` does.</summary>
internal static class FlowLogWaits
{
    public static async Task UntilRecordingAsync(AgentHarness h)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        string status;
        while (!(status = (await h.Client.StatusAsync()).FlowLog).StartsWith("recording", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, $"the agent's flow log did not start: {status}");
            await Task.Delay(20);
        }
    }

    /// <summary>Polls the flow log until a record of the sandbox matches (30 s at most).</summary>
    public static async Task<FlowRecord> UntilFlowAsync(AgentHarness h, string sandboxId, Func<FlowRecord, bool> match)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            using (var store = FlowStore.OpenReadOnly(Path.Combine(h.Options.StateDir, "flows.db")))
            {
                var found = store.Query(new FlowQuery { SandboxId = sandboxId }).FirstOrDefault(match);
                if (found is not null)
                {
                    return found;
                }
            }

            Assert.True(DateTime.UtcNow < deadline, $"no matching flow of {sandboxId} was recorded");
            await Task.Delay(50);
        }
    }
}
