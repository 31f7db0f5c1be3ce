using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Integration;

/// <summary>The container tier's limits test, run on the gvisor tier: the cgroup holds the whole gVisor sandbox.</summary>
[Trait("Category", "Integration")]
[Trait("Category", "Hostile")]
public sealed class GvisorLimitsTests
{
    [Fact]
    public async Task Memory_hog_and_cpu_spinner_in_gvisor_stay_inside_its_cgroup_and_the_neighbour_keeps_working()
    {
        await using var h = await AgentHarness.StartAsync();
        const long limit = 96 * SandboxSpec.MiB;
        var bad = await h.Client.CreateAsync(SandboxSpec.Default with { Name = "bad", Tier = RuntimeTier.Gvisor, MemoryBytes = limit, Cpus = 0.2 });
        await h.Client.CreateAsync(SandboxSpec.Default with { Name = "good", Tier = RuntimeTier.Gvisor });
        var cg = bad.CgroupPath.TrimStart('/');

        // CPU spinner: the Sentry runs it on host threads in the sandbox's cgroup, throttled by the CFS quota.
        await h.Client.ExecAsync("bad", ["sh", "-c", "while :; do :; done >/dev/null 2>&1 &"]);
        Assert.Equal("20000", File.ReadAllText($"/sys/fs/cgroup/cpu/{cg}/cpu.cfs_quota_us").Trim());
        await WaitUntilAsync(() => Stat($"/sys/fs/cgroup/cpu/{cg}/cpu.stat", "nr_throttled") > 0);

        // Memory hog: gVisor's memory is charged to the sandbox's cgroup (the hog drives it up to the limit) and
        // whatever is killed (the hog by gVisor, or the sandbox by the cgroup), the charge never passes the limit.
        await h.Client.ExecAsync("bad", ["sh", "-c", "tail /dev/zero; echo survived $?"], timeoutSeconds: 120);
        var peak = long.Parse(File.Exists($"/sys/fs/cgroup/memory/{cg}/memory.max_usage_in_bytes")
            ? File.ReadAllText($"/sys/fs/cgroup/memory/{cg}/memory.max_usage_in_bytes").Trim() : "0", System.Globalization.CultureInfo.InvariantCulture);
        // The memory controller charges in per-CPU batches (MEMCG_CHARGE_BATCH pages), so its high-water mark may
        // pass the limit by up to one batch before reclaim or the OOM killer acts: seen here at limit + 1 page.
        Assert.InRange(peak, limit / 2, limit + (64 * 4096));

        Assert.Equal("fine\n", (await h.Client.ExecAsync("good", ["sh", "-c", "echo fine"])).Stdout);
        Assert.Equal("running", (await h.Client.InspectAsync("good")).RuntimeStatus);
    }

    [Fact]
    public async Task A_process_flood_in_gvisor_ends_at_the_sandboxs_pids_limit_and_the_neighbour_keeps_working()
    {
        await using var h = await AgentHarness.StartAsync(pool: "198.19.11.0/24");
        var flood = await h.Client.CreateAsync(SandboxSpec.Default with { Name = "flood", Tier = RuntimeTier.Gvisor, Pids = 64 });
        await h.Client.CreateAsync(SandboxSpec.Default with { Name = "good", Tier = RuntimeTier.Gvisor });
        var pids = $"/sys/fs/cgroup/pids/{flood.CgroupPath.TrimStart('/')}";
        Assert.Equal("64", File.ReadAllText(Path.Combine(pids, "pids.max")).Trim());

        // 300 long-lived processes asked for inside gVisor. Its tasks are not host processes, but the sentry needs
        // host threads and (ptrace platform) stub processes for them, all in the sandbox's cgroup: the host kernel
        // refuses them past the limit. Either gVisor refuses the forks inside, or the sandbox ends; never more.
        var r = await h.Client.ExecAsync("flood", ["sh", "-c", "i=0; while [ $i -lt 300 ]; do sleep 60 2>/dev/null & i=$((i+1)); done; set -- /proc/[0-9]*; echo $#"], timeoutSeconds: 120);
        var status = (await h.Client.InspectAsync("flood")).RuntimeStatus;
        if (int.TryParse(r.Stdout.Trim(), System.Globalization.CultureInfo.InvariantCulture, out var alive))
        {
            Assert.True(alive <= 64, $"{alive} processes exist in a gVisor sandbox with a pids limit of 64");
        }
        else
        {
            Assert.True(status is "stopped" or "absent", $"the flood neither stopped inside nor ended the sandbox: exit {r.ExitCode}, status {status}, {r.Stderr.Trim()}");
        }

        if (Directory.Exists(pids))
        {
            Assert.True(long.Parse(File.ReadAllText(Path.Combine(pids, "pids.current")).Trim(), System.Globalization.CultureInfo.InvariantCulture) <= 64);
        }

        Assert.Equal("fine\n", (await h.Client.ExecAsync("good", ["sh", "-c", "echo fine"])).Stdout);
        Assert.Equal("running", (await h.Client.InspectAsync("good")).RuntimeStatus);
    }

    private static long Stat(string file, string key) =>
        File.ReadLines(file).Where(l => l.StartsWith(key + " ", StringComparison.Ordinal))
            .Select(l => long.Parse(l.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture)).Single();

    private static async Task WaitUntilAsync(Func<bool> condition, int seconds = 30)
#pragma warning disable xUnit1031 // the condition is a plain predicate polled off the test's own thread
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in time");
            await Task.Delay(50);
        }
    }
#pragma warning restore xUnit1031
}
