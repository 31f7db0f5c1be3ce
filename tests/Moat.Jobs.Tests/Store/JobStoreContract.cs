using Moat.Jobs.Store;

namespace Moat.Jobs.Tests.Store;

public sealed class SqliteJobStoreTests : IDisposable
{
    private readonly string path = Path.Combine(Path.GetTempPath(), $"moat-jobs-{Guid.NewGuid():N}.db");

    public void Dispose()
    {
        foreach (var f in new[] { path, path + "-wal", path + "-shm" })
        {
            File.Delete(f);
        }
    }

    private static WorkerOffer Worker(string jid, int slots, params string[] labels) => new(jid, labels, slots, 0, 0);

    [Fact]
    public async Task Two_managers_sharing_a_store_never_claim_the_same_task()
    {
        await using var a = await SqliteJobStore.OpenAsync(path);
        await using var b = await SqliteJobStore.OpenAsync(path);
        long job = await a.AddJobAsync(new JobSpec { Owner = "u@x", Command = "/bin/true", Arguments = ["{task}"], Tasks = 500 });
        var claims = await Task.WhenAll(Enumerable.Range(0, 40).Select(i =>
            (i % 2 == 0 ? a : b).ClaimAsync(i % 2 == 0 ? "ma" : "mb", Worker($"w{i}@x/r", 20))));
        var ids = claims.SelectMany(c => c).Select(t => t.TaskId).ToList();
        Assert.Equal(500, ids.Count);
        Assert.Equal(500, ids.Distinct().Count());
        Assert.All(claims.SelectMany(c => c), t => Assert.Equal(t.Index.ToString(System.Globalization.CultureInfo.InvariantCulture), t.Arguments[0]));
        Assert.Equal(500, (await a.GetStatusAsync(job))!.Dispatched);
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public async Task Replicas_of_a_task_never_go_to_two_resources_of_one_account()
    {
        await using var store = await SqliteJobStore.OpenAsync(path);
        await store.AddJobAsync(new JobSpec { Owner = "u@x", Command = "c", Tasks = 2, Redundancy = 2 });
        Assert.Equal(2, (await store.ClaimAsync("m", Worker("w@x/r1", 10))).Count);
        Assert.Empty(await store.ClaimAsync("m", Worker("w@x/r2", 10)));
        Assert.Empty(await store.ClaimAsync("m", Worker("w@x", 10)));
        // An account whose name merely starts with the same letters is another account.
        Assert.Equal(2, (await store.ClaimAsync("m", Worker("w@x.other/r1", 10))).Count);
    }

    [Fact]
    public async Task A_result_is_recorded_once_and_stale_attempts_are_ignored()
    {
        await using var store = await SqliteJobStore.OpenAsync(path);
        long job = await store.AddJobAsync(new JobSpec { Owner = "u@x", Command = "c", Tasks = 1 });
        var first = (await store.ClaimAsync("m", Worker("w1@x/r", 1))).Single();
        Assert.Equal(1, await store.RequeueWorkerAsync("w1@x/r"));
        var second = (await store.ClaimAsync("m", Worker("w2@x/r", 1))).Single();
        Assert.Equal(first.TaskId, second.TaskId);
        Assert.Equal(2, second.Attempt);

        Assert.Equal(0, await store.CompleteAsync([new TaskResult(first.TaskId, first.Attempt, 0, "late")]));
        Assert.Equal(1, await store.CompleteAsync([new TaskResult(second.TaskId, second.Attempt, 0, "ok")]));
        Assert.Equal(0, await store.CompleteAsync([new TaskResult(second.TaskId, second.Attempt, 0, "again")]));
        Assert.Equal(1, await store.CountResultsAsync(job));
        Assert.Equal("ok", (await store.GetLogsAsync(job, null)).Single().Output);
    }

    [Fact]
    public async Task A_failing_task_is_retried_then_marked_failed()
    {
        await using var store = await SqliteJobStore.OpenAsync(path);
        long job = await store.AddJobAsync(new JobSpec { Owner = "u@x", Command = "c", MaxRetries = 1 });
        var t1 = (await store.ClaimAsync("m", Worker("w@x/r", 1))).Single();
        Assert.Equal(0, await store.CompleteAsync([new TaskResult(t1.TaskId, t1.Attempt, 3, "boom")]));
        var t2 = (await store.ClaimAsync("m", Worker("w@x/r", 1))).Single();
        Assert.Equal(1, await store.CompleteAsync([new TaskResult(t2.TaskId, t2.Attempt, 3, "boom")]));
        var status = await store.GetStatusAsync(job);
        Assert.Equal(1, status!.Failed);
        Assert.Equal("finished with failures", status.State);
    }

    [Fact]
    public async Task Replicas_go_to_different_workers_and_disagreement_is_counted()
    {
        await using var store = await SqliteJobStore.OpenAsync(path);
        long job = await store.AddJobAsync(new JobSpec { Owner = "u@x", Command = "c", Tasks = 2, Redundancy = 2 });
        var w1 = await store.ClaimAsync("m", Worker("w1@x/r", 10));
        Assert.Equal(2, w1.Count);
        Assert.NotEqual(w1[0].Index, w1[1].Index);
        Assert.Empty(await store.ClaimAsync("m", Worker("w1@x/r", 10)));
        var w2 = await store.ClaimAsync("m", Worker("w2@x/r", 10));
        Assert.Equal(2, w2.Count);
        await store.CompleteAsync(w1.Select(t => new TaskResult(t.TaskId, t.Attempt, 0, "same")).ToList());
        await store.CompleteAsync(w2.Select(t => new TaskResult(t.TaskId, t.Attempt, 0, t.Index == 0 ? "same" : "different")).ToList());
        Assert.Equal(1, (await store.GetStatusAsync(job))!.Mismatches);
    }

    [Fact]
    public async Task Labels_memory_and_cancel_rights_are_respected()
    {
        await using var store = await SqliteJobStore.OpenAsync(path);
        long job = await store.AddJobAsync(new JobSpec { Owner = "alice@x", Command = "c", Labels = ["gpu"], MemoryMb = 512 });
        Assert.Empty(await store.ClaimAsync("m", Worker("w@x/r", 4)));
        Assert.Empty(await store.ClaimAsync("m", new WorkerOffer("w@x/r", ["gpu"], 4, 256, 0)));
        Assert.Single(await store.ClaimAsync("m", new WorkerOffer("w@x/r", ["gpu", "x86"], 4, 1024, 0)));
        Assert.False(await store.CancelAsync(job, "bob@x", isAdmin: false));
        Assert.True(await store.CancelAsync(job, "root@x", isAdmin: true));
        Assert.Equal("cancelled", (await store.GetStatusAsync(job))!.State);
    }

    [Fact]
    public async Task An_oversized_job_is_refused_with_a_clear_sentence()
    {
        await using var store = await SqliteJobStore.OpenAsync(path);
        var e = await Assert.ThrowsAsync<ArgumentException>(() => store.AddJobAsync(new JobSpec { Owner = "u@x", Command = "c", Tasks = 5_000_000 }));
        Assert.StartsWith("--tasks 5000000 is out of range", e.Message, StringComparison.Ordinal);
    }
}
