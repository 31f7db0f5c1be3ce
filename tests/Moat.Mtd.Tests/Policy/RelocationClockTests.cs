using Moat.Mtd.Policy;

namespace Moat.Mtd.Tests.Policy;

public sealed class RelocationClockTests
{
    private static readonly DateTimeOffset s_start = new(2026, 11, 22, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Periodic_IsDueExactlyWhenIntervalHasPassed()
    {
        var time = new ManualTimeProvider(s_start);
        var clock = new RelocationClock(time, new Random(1));
        clock.Track("sb-1", RelocationPolicy.Periodic(TimeSpan.FromMinutes(10)));

        time.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromTicks(1));
        Assert.Empty(clock.GetDue());

        time.Advance(TimeSpan.FromTicks(1));
        var due = Assert.Single(clock.GetDue());
        Assert.Equal("sb-1", due.SandboxId);
        Assert.Equal(DueReason.Clock, due.Reason);
    }

    [Fact]
    public void MarkRelocated_StartsNextDwellFromNow()
    {
        var time = new ManualTimeProvider(s_start);
        var clock = new RelocationClock(time, new Random(1));
        clock.Track("sb-1", RelocationPolicy.Periodic(TimeSpan.FromMinutes(10)));
        time.Advance(TimeSpan.FromMinutes(25));
        clock.MarkRelocated("sb-1");

        Assert.Empty(clock.GetDue());
        Assert.Equal(s_start + TimeSpan.FromMinutes(35), clock.DueAt("sb-1"));
    }

    [Fact]
    public void SameSeed_GivesSamePoissonSchedule_DifferentSeedDoesNot()
    {
        static List<DateTimeOffset?> Schedule(int seed)
        {
            var time = new ManualTimeProvider(s_start);
            var clock = new RelocationClock(time, new Random(seed));
            clock.Track("sb-1", RelocationPolicy.Poisson(2.0));
            var result = new List<DateTimeOffset?>();
            for (var i = 0; i < 20; i++)
            {
                var at = clock.DueAt("sb-1");
                result.Add(at);
                time.SetUtcNow(at!.Value);
                clock.MarkRelocated("sb-1");
            }

            return result;
        }

        Assert.Equal(Schedule(5), Schedule(5));
        Assert.NotEqual(Schedule(5), Schedule(6));
    }

    [Fact]
    public void Alert_MakesOnAlertVictimDueAtOnce_WithSuspect()
    {
        var time = new ManualTimeProvider(s_start);
        var clock = new RelocationClock(time, new Random(1));
        clock.Track("victim", RelocationPolicy.OnAlert);
        Assert.Null(clock.DueAt("victim"));
        Assert.Empty(clock.GetDue());

        Assert.True(clock.RaiseAlert("victim", "suspect-sb"));
        var due = Assert.Single(clock.GetDue());
        Assert.Equal(DueReason.Alert, due.Reason);
        Assert.Equal("suspect-sb", due.Suspect);

        clock.MarkRelocated("victim");
        Assert.Empty(clock.GetDue());
    }

    [Fact]
    public void Alert_MovesPoissonVictimThatAlsoMovesOnAlert_AndMarkRelocatedRestartsItsClock()
    {
        var time = new ManualTimeProvider(s_start);
        var clock = new RelocationClock(time, new Random(1));
        var policy = RelocationPolicy.Poisson(0.001) with { AlsoOnAlert = true };
        clock.Track("victim", policy);
        Assert.Empty(clock.GetDue());

        Assert.True(clock.RaiseAlert("victim", "suspect"));
        Assert.Equal(DueReason.Alert, Assert.Single(clock.GetDue()).Reason);
        clock.MarkRelocated("victim");
        Assert.Empty(clock.GetDue());
        Assert.NotNull(clock.DueAt("victim"));
        Assert.EndsWith("+alert", policy.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Alert_IsIgnoredByPoliciesThatDoNotMoveOnAlert()
    {
        var clock = new RelocationClock(new ManualTimeProvider(s_start), new Random(1));
        clock.Track("a", RelocationPolicy.Periodic(TimeSpan.FromHours(1)));
        clock.Track("b", RelocationPolicy.Off);
        Assert.False(clock.RaiseAlert("a", "x"));
        Assert.False(clock.RaiseAlert("b", "x"));
        Assert.False(clock.RaiseAlert("untracked", "x"));
        Assert.Empty(clock.GetDue());
    }

    [Fact]
    public void GetDue_ListsEarliestFirst()
    {
        var time = new ManualTimeProvider(s_start);
        var clock = new RelocationClock(time, new Random(1));
        clock.Track("late", RelocationPolicy.Periodic(TimeSpan.FromMinutes(30)));
        clock.Track("early", RelocationPolicy.Periodic(TimeSpan.FromMinutes(5)));
        time.Advance(TimeSpan.FromHours(1));
        Assert.Equal(["early", "late"], clock.GetDue().Select(d => d.SandboxId));
    }

    [Fact]
    public void MarkRelocated_OnUntrackedSandbox_Throws()
    {
        var clock = new RelocationClock(new ManualTimeProvider(s_start), new Random(1));
        Assert.Throws<MtdException>(() => clock.MarkRelocated("nope"));
    }
}

/// <summary>A clock the test moves by hand.</summary>
internal sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;

    public void SetUtcNow(DateTimeOffset now) => _now = now;
}
