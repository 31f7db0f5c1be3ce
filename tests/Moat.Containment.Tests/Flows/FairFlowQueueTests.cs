using System.Net;
using Moat.Containment.Flows;

namespace Moat.Containment.Tests.Flows;

public sealed class FairFlowQueueTests
{
    private static KernelFlowEvent Event(int port) =>
        new(KernelFlowKind.Refused, DateTimeOffset.UnixEpoch, 0, 17, IPAddress.Loopback, 1, IPAddress.Loopback, port, 0, 0, null, null, 0);

    [Fact]
    public void A_flood_that_fills_the_queue_leaves_every_other_sandbox_its_reserve_and_counts_the_drops_as_the_flooders()
    {
        var queue = new FairFlowQueue(capacity: 100, reserve: 8);
        var floodAccepted = Enumerable.Range(0, 10_000).Count(i => queue.TryWrite("mallory", Event(i)));
        Assert.Equal(100, floodAccepted);

        // Full, yet each quiet sandbox gets its reserve in; what is beyond it is dropped and counted as its own.
        for (var n = 0; n < 50; n++)
        {
            Assert.Equal(8, Enumerable.Range(0, 9).Count(i => queue.TryWrite("quiet" + n, Event(i))));
        }

        Assert.Equal(100 + (50 * 8), queue.Count);
        var drops = queue.DropsBySandbox;
        Assert.Equal(9_900, drops["mallory"]);
        Assert.All(Enumerable.Range(0, 50), n => Assert.Equal(1, drops["quiet" + n]));
        Assert.Equal(9_950, queue.Dropped);
    }

    [Fact]
    public void The_reader_takes_the_lanes_in_turn_so_a_quiet_sandbox_does_not_wait_behind_a_flood()
    {
        var queue = new FairFlowQueue(capacity: 1_000, reserve: 0);
        for (var i = 0; i < 500; i++)
        {
            queue.TryWrite("mallory", Event(i));
        }

        queue.TryWrite("sam", Event(7));
        Assert.True(queue.TryRead(out var first));
        Assert.True(queue.TryRead(out var second));
        Assert.Equal(0, first.DestinationPort);
        Assert.Equal(7, second.DestinationPort);
    }

    [Fact]
    public async Task A_completed_queue_drains_then_says_there_is_no_more()
    {
        var queue = new FairFlowQueue(capacity: 10, reserve: 1);
        var waiting = queue.WaitToReadAsync(CancellationToken.None).AsTask();
        Assert.False(waiting.IsCompleted);
        queue.TryWrite("a", Event(1));
        Assert.True(await waiting);
        queue.Complete();
        Assert.False(queue.TryWrite("a", Event(2)));
        Assert.True(queue.TryRead(out _));
        Assert.False(await queue.WaitToReadAsync(CancellationToken.None));
    }
}
