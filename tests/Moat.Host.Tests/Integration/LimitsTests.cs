using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Integration;

[Trait("Category", "Integration")]
[Trait("Category", "Hostile")]
public sealed class LimitsTests
{
    [Fact]
    public async Task Memory_hog_fork_bomb_and_cpu_spinner_are_contained_and_the_neighbour_keeps_working()
    {
        await using var h = await AgentHarness.StartAsync();
        var bad = await h.Client.CreateAsync(SandboxSpec.Default with { Name = "bad", MemoryBytes = 32 * SandboxSpec.MiB, Pids = 64, Cpus = 0.2 });
        await h.Client.CreateAsync(SandboxSpec.Default with { Name = "good" });
        var cg = bad.CgroupPath.TrimStart('/');

        // CPU spinner: throttled by the CFS quota (the kernel counts the throttled periods).
        await h.Client.ExecAsync("bad", ["sh", "-c", "while :; do :; done >/dev/null 2>&1 &"]);
        Assert.Equal("20000", File.ReadAllText($"/sys/fs/cgroup/cpu/{cg}/cpu.cfs_quota_us").Trim());
        await SandboxLifecycleTests.WaitUntilAsync(() => Throttled($"/sys/fs/cgroup/cpu/{cg}/cpu.stat") > 0);

        // Memory hog: killed by the sandbox's own OOM killer, not the host's (`tail` keeps an endless line in memory:
        // the classic hog, cheap on CPU), while the spinner still runs.
        var hog = await h.Client.ExecAsync("bad", ["sh", "-c", "tail /dev/zero; echo survived $?"], timeoutSeconds: 120);
        Assert.Contains("survived 137", hog.Stdout, StringComparison.Ordinal);
        var kills = OomKills($"/sys/fs/cgroup/memory/{cg}/memory.oom_control");
        Assert.True(kills > 0);
        Assert.Equal(kills, (await h.Client.InspectAsync("bad")).OomKills); // inspect tells the client why

        // Fork bomb: stopped at the pids limit. The children live long (so a slow, loaded machine still reaches the
        // limit before any exits) and do not hold the exec's output open (so the exec returns when the loop ends).
        var bomb = await h.Client.ExecAsync("bad", ["sh", "-c", "i=0; while [ $i -lt 200 ]; do sleep 600 </dev/null >/dev/null 2>&1 & i=$((i+1)); done; echo forked"], timeoutSeconds: 120);
        Assert.Contains("can't fork", bomb.Stderr, StringComparison.Ordinal);
        Assert.True(int.Parse(File.ReadAllText($"/sys/fs/cgroup/pids/{cg}/pids.current").Trim(), System.Globalization.CultureInfo.InvariantCulture) <= 64);
        Assert.True(long.Parse(File.ReadAllText($"/sys/fs/cgroup/pids/{cg}/pids.events").Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture) > 0);

        // The neighbour is untouched.
        var ok = await h.Client.ExecAsync("good", ["sh", "-c", "echo fine"]);
        Assert.Equal("fine\n", ok.Stdout);
        Assert.Equal("running", (await h.Client.InspectAsync("good")).RuntimeStatus);
    }

    private static long OomKills(string oomControl) =>
        File.ReadLines(oomControl).Where(l => l.StartsWith("oom_kill ", StringComparison.Ordinal))
            .Select(l => long.Parse(l.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture)).Single();

    private static long Throttled(string cpuStat) =>
        File.ReadLines(cpuStat).Where(l => l.StartsWith("nr_throttled ", StringComparison.Ordinal))
            .Select(l => long.Parse(l.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture)).Single();
}
