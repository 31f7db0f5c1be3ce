using System.Net;
using Moat.Honeyfarm.Limits;

namespace Moat.Honeyfarm.Tests.Limits;

public sealed class UdpReplyBudgetTests
{
    private const int Greeting = 120;

    private sealed class ManualTime : TimeProvider
    {
        public long Now { get; set; }

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Now;

        public void Advance(TimeSpan by) => Now += by.Ticks;
    }

    private static IPAddress Spoofed(int i) => new(new byte[] { 198, 19, (byte)(i >> 8), (byte)i });

    [Fact]
    [Trait("Category", "Hostile")]
    public void An_unproven_sender_never_gets_more_bytes_than_it_sent()
    {
        var time = new ManualTime();
        var budget = new UdpReplyBudget(new UdpReplyLimits { PerSecond = 1_000_000, PerSenderPerSecond = 1_000_000 }, time);
        long bytesIn = 0;
        long bytesOut = 0;
        for (var size = 0; size <= 2 * Greeting; size++)
        {
            var allowed = budget.Allowed(Spoofed(size), size, Greeting);
            Assert.True(allowed <= size, $"{allowed} bytes answered to {size}");
            bytesIn += size;
            bytesOut += allowed;
        }

        Assert.True(bytesOut <= bytesIn);
        Assert.Equal(1, budget.Refused); // the empty datagram: nothing to answer with
        Assert.Equal(Greeting - 1, budget.Truncated); // 1 to 119 bytes in: cut; 120 and more: whole
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public void A_sender_that_completed_a_handshake_gets_the_whole_answer()
    {
        var budget = new UdpReplyBudget(UdpReplyLimits.Default, new ManualTime());
        var peer = IPAddress.Parse("198.18.96.2");

        Assert.Equal(5, budget.Allowed(peer, 5, Greeting));
        budget.Verified(IPAddress.Parse("::ffff:198.18.96.2"));
        Assert.Equal(Greeting, budget.Allowed(peer, 5, Greeting));
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public void A_flood_from_100000_spoofed_senders_gets_at_most_the_overall_rate()
    {
        var time = new ManualTime();
        var limits = new UdpReplyLimits { PerSecond = 100, PerSenderPerSecond = 10 };
        var budget = new UdpReplyBudget(limits, time);
        var answered = 0;
        for (var second = 0; second < 10; second++)
        {
            for (var i = 0; i < 10_000; i++)
            {
                answered += budget.Allowed(Spoofed((second * 10_000) + i), 64, Greeting) > 0 ? 1 : 0;
            }

            time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.True(answered <= limits.PerSecond * 10, $"{answered} answers in 10 s");
        Assert.Equal(100_000 - answered, budget.Refused);
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public void One_sender_gets_at_most_its_own_rate()
    {
        var time = new ManualTime();
        var budget = new UdpReplyBudget(new UdpReplyLimits { PerSecond = 100, PerSenderPerSecond = 10 }, time);
        var victim = IPAddress.Parse("198.18.96.4");
        var answered = 0;
        for (var i = 0; i < 1_000; i++)
        {
            answered += budget.Allowed(victim, 64, Greeting) > 0 ? 1 : 0;
            time.Advance(TimeSpan.FromMilliseconds(1));
        }

        // One second of requests: the burst of 10 and the 10 a second it refills.
        Assert.InRange(answered, 10, 20);
    }
}
