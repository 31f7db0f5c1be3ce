using Moat.Honeyfarm.Gateway;

namespace Moat.Honeyfarm.Tests.Gateway;

public sealed class ScanFilterTests
{
    private sealed class ManualTime : TimeProvider
    {
        public long Now { get; set; }

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Now;

        public void Advance(TimeSpan by) => Now += by.Ticks;
    }

    [Fact]
    public void SecondCloneForTheSameSourcePortAndProtocol_WithinTheInterval_IsRefused()
    {
        var time = new ManualTime();
        var filter = new ScanFilter(TimeSpan.FromSeconds(60), time);

        Assert.True(filter.TryAdmit(1, 22, 6));
        time.Advance(TimeSpan.FromSeconds(59));
        Assert.False(filter.TryAdmit(1, 22, 6));
    }

    [Fact]
    public void AfterTheInterval_ANewCloneIsAdmittedAgain()
    {
        var time = new ManualTime();
        var filter = new ScanFilter(TimeSpan.FromSeconds(60), time);

        Assert.True(filter.TryAdmit(1, 22, 6));
        time.Advance(TimeSpan.FromSeconds(60));
        Assert.True(filter.TryAdmit(1, 22, 6));
        Assert.False(filter.TryAdmit(1, 22, 6));
    }

    [Theory]
    [InlineData(2u, (ushort)22, (byte)6)]
    [InlineData(1u, (ushort)23, (byte)6)]
    [InlineData(1u, (ushort)22, (byte)17)]
    public void ADifferentSourcePortOrProtocol_IsADifferentKey(uint source, ushort port, byte protocol)
    {
        var filter = new ScanFilter(TimeSpan.FromSeconds(60), new ManualTime());

        Assert.True(filter.TryAdmit(1, 22, 6));
        Assert.True(filter.TryAdmit(source, port, protocol));
    }

    [Fact]
    public void AZeroInterval_AdmitsEverything()
    {
        var filter = new ScanFilter(TimeSpan.Zero, new ManualTime());

        Assert.True(filter.TryAdmit(1, 22, 6));
        Assert.True(filter.TryAdmit(1, 22, 6));
    }

    [Fact]
    public void ManyKeys_ArePrunedOnceExpired_AndStillFilteredWhileFresh()
    {
        var time = new ManualTime();
        var filter = new ScanFilter(TimeSpan.FromSeconds(60), time);
        for (uint s = 0; s < 70_000; s++)
        {
            Assert.True(filter.TryAdmit(s, 22, 6));
        }

        Assert.False(filter.TryAdmit(69_999, 22, 6));
        time.Advance(TimeSpan.FromSeconds(61));
        Assert.True(filter.TryAdmit(0, 22, 6));
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public void ASpoofedFloodOfAMillionKeysInOneInterval_CostsFlatUpkeepPerInsert_AndHoldsABoundedTable()
    {
        var time = new ManualTime();
        var filter = new ScanFilter(TimeSpan.FromSeconds(60), time);
        for (uint s = 0; s < 1_000_000; s++)
        {
            filter.TryAdmit(s, 22, 6);
            if ((s + 1) % 5_000 == 0)
            {
                // Counts, not timing: whatever upkeep the filter does (pruning, rotating) is paid for by the inserts, at
                // most a small constant per insert, and the table never holds more than two generations of 65,536 keys.
                Assert.True(filter.UpkeepWork <= 2L * (s + 1), $"after {s + 1} inserts the filter did {filter.UpkeepWork} entries of upkeep");
                Assert.True(filter.Count <= 2 * 65_536, $"after {s + 1} inserts the filter holds {filter.Count} keys");
            }
        }
    }
}
