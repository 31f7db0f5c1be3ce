using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Moat.Detect.Detectors;
using Moat.Detect.Response;

namespace Moat.Detect.Tests.Response;

public sealed class ResponseEngineTests
{
    private static readonly Alert Alert = new(
        AlertKinds.PortScan,
        IPAddress.Parse("198.19.252.2"),
        "198.19.252.9",
        new Dictionary<string, long> { ["ports"] = 25 },
        new DateTimeOffset(2026, 11, 22, 6, 0, 0, TimeSpan.Zero),
        "scan");

    [Fact]
    public async Task Respond_AppliesThePolicyAction_AndRevertIsRecordedAndUndone()
    {
        var clock = new ManualClock(new DateTimeOffset(2026, 11, 22, 7, 0, 0, TimeSpan.Zero));
        var actuator = new RecordingActuator();
        var engine = new ResponseEngine(ResponsePolicy.Default, actuator, clock, NullLogger<ResponseEngine>.Instance);

        var record = await engine.RespondAsync(Alert, "sb-1", TrustLevel.Untrusted);

        Assert.Equal(ResponseAction.Quarantine, record.Action);
        Assert.Same(Alert, record.Alert);
        Assert.Equal(clock.Now, record.AppliedAt);
        Assert.Equal([("apply", record.Id)], actuator.Calls);

        clock.Now = clock.Now.AddMinutes(5);
        var reverted = await engine.RevertAsync(record.Id, "alice");

        Assert.True(reverted.IsReverted);
        Assert.Equal("alice", reverted.RevertedBy);
        Assert.Equal(clock.Now, reverted.RevertedAt);
        Assert.Equal([("apply", record.Id), ("revert", record.Id)], actuator.Calls);
        Assert.True(Assert.Single(engine.Records).IsReverted);
    }

    [Fact]
    public async Task Revert_UnknownId_SaysWhichIdsExist()
    {
        var engine = new ResponseEngine(ResponsePolicy.Default, new RecordingActuator(), TimeProvider.System, NullLogger<ResponseEngine>.Instance);
        await engine.RespondAsync(Alert, "sb-1", TrustLevel.Trusted);

        var e = await Assert.ThrowsAsync<KeyNotFoundException>(() => engine.RevertAsync(7, "bob"));

        Assert.Contains("1 to 1", e.Message, StringComparison.Ordinal);
    }

    private sealed class ManualClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private sealed class RecordingActuator : IResponseActuator
    {
        public List<(string, long)> Calls { get; } = [];

        public Task ApplyAsync(ResponseRecord record, CancellationToken cancellationToken = default)
        {
            Calls.Add(("apply", record.Id));
            return Task.CompletedTask;
        }

        public Task RevertAsync(ResponseRecord record, CancellationToken cancellationToken = default)
        {
            Calls.Add(("revert", record.Id));
            return Task.CompletedTask;
        }
    }
}
