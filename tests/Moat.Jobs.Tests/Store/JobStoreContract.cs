using System.Globalization;
using Moat.Jobs.Store;

namespace Moat.Jobs.Tests.Store;

/// <summary>
/// What every job store does, run against each (<see cref="SqliteJobStoreTests"/>, <see cref="PostgresJobStoreTests"/>):
/// a derived class opens store instances that share one database, as several managers do.
/// </summary>
public abstract class JobStoreContract
{
    protected ManualTime Time { get; } = new(DateTimeOffset.Parse("2026-12-07T00:00:00Z", CultureInfo.InvariantCulture));

    /// <summary>Opens another instance of the same store (another manager's connection).</summary>
    protected abstract Task<IJobStore> OpenAsync();

    private static WorkerOffer Worker(string jid, int slots, params string[] labels) => new(jid, labels, slots, 0, 0);

    [Fact]
    public async Task Two_managers_sharing_a_store_never_claim_the_same_task()
    {
        await using var a = await OpenAsync();
        await using var b = await OpenAsync();
        long job = await a.AddJobAsync(new JobSpec { Owner = "u@x", Command = "/bin/true", Arguments = ["{task}"], Tasks = 500 });
        var claims = await Task.WhenAll(Enumerable.Range(0, 40).Select(i =>
            (i % 2 == 0 ? a : b).ClaimAsync(i % 2 == 0 ? "ma" : "mb", Worker($"w{i}@x/r", 20))));
        var ids = claims.SelectMany(c => c).Select(t => t.TaskId).ToList();
        Assert.Equal(500, ids.Count);
        Assert.Equal(500, ids.Distinct().Count());
        Assert.All(claims.SelectMany(c => c), t => Assert.Equal(t.Index.ToString(CultureInfo.InvariantCulture), t.Arguments[0]));
        Assert.All(claims.SelectMany(c => c), t => Assert.Equal(1, t.Attempt));
        Assert.Equal(500, (await a.GetStatusAsync(job))!.Dispatched);
    }

    [Fact]
    public async Task Claims_come_highest_priority_first_then_in_submission_order()
    {
        await using var store = await OpenAsync();
        long low = await store.AddJobAsync(new JobSpec { Owner = "u@x", Command = "low", Tasks = 3 });
        long high = await store.AddJobAsync(new JobSpec { Owner = "u@x", Command = "high", Tasks = 2, Priority = 5 });
        var claimed = await store.ClaimAsync("m", Worker("w@x/r", 4));
        Assert.Equal([(high, 0), (high, 1), (low, 0), (low, 1)], claimed.Select(t => (t.JobId, t.Index)));
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public async Task Replicas_of_a_task_never_go_to_two_resources_of_one_account()
    {
        await using var store = await OpenAsync();
        await store.AddJobAsync(new JobSpec { Owner = "u@x", Command = "c", Tasks = 2, Redundancy = 2 });
        Assert.Equal(2, (await store.ClaimAsync("m", Worker("w@x/r1", 10))).Count);
        Assert.Empty(await store.ClaimAsync("m", Worker("w@x/r2", 10)));
        Assert.Empty(await store.ClaimAsync("m", Worker("w@x", 10)));
        // An account whose name merely starts with the same letters is another account.
        Assert.Equal(2, (await store.ClaimAsync("m", Worker("w@x.other/r1", 10))).Count);
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public async Task Two_managers_claiming_at_once_for_two_resources_of_one_account_hand_it_one_replica_of_each_task()
    {
        await using var a = await OpenAsync();
        await using var b = await OpenAsync();
        long job = await a.AddJobAsync(new JobSpec { Owner = "u@x", Command = "c", Tasks = 50, Redundancy = 2 });
        var claims = await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
            (i % 2 == 0 ? a : b).ClaimAsync(i % 2 == 0 ? "ma" : "mb", Worker($"w@x/r{i}", 10))));
        var all = claims.SelectMany(c => c).ToList();
        Assert.Equal(50, all.Count);
        Assert.Equal(50, all.Select(t => t.Index).Distinct().Count());
    }

    [Fact]
    public async Task A_result_is_recorded_once_and_stale_attempts_are_ignored()
    {
        await using var store = await OpenAsync();
        long job = await store.AddJobAsync(new JobSpec { Owner = "u@x", Command = "c", Tasks = 1 });
        var first = (await store.ClaimAsync("m", Worker("w1@x/r", 1))).Single();
        Assert.Equal(1, await store.RequeueWorkerAsync("w1@x/r"));
        var second = (await store.ClaimAsync("m", Worker("w2@x/r", 1))).Single();
        Assert.Equal(first.TaskId, second.TaskId);
        Assert.Equal(2, second.Attempt);

        Assert.Equal(0, await store.CompleteAsync("w1@x/r", [new TaskResult(first.TaskId, first.Attempt, 0, "late")]));
        Assert.Equal(1, await store.CompleteAsync("w2@x/r", [new TaskResult(second.TaskId, second.Attempt, 0, "ok")]));
        Assert.Equal(0, await store.CompleteAsync("w2@x/r", [new TaskResult(second.TaskId, second.Attempt, 0, "again")]));
        Assert.Equal(1, await store.CountResultsAsync(job));
        Assert.Equal("ok", (await store.GetLogsAsync(job, null)).Single().Output);
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public async Task A_worker_cannot_record_results_for_a_task_another_worker_holds()
    {
        await using var store = await OpenAsync();
        long job = await store.AddJobAsync(new JobSpec { Owner = "u@x", Command = "c", Tasks = 2 });
        var held = await store.ClaimAsync("m", Worker("honest@x/r", 2));
        // Right task id and attempt, wrong worker: another account, and another resource of the holder's own account.
        foreach (string forger in new[] { "mallory@x/r", "honest@x/other", "honest@x", "HONEST@x/r" })
        {
            Assert.Equal(0, await store.CompleteAsync(forger, held.Select(t => new TaskResult(t.TaskId, t.Attempt, 0, "forged")).ToList()));
            Assert.Equal(0, await store.CompleteAsync(forger, held.Select(t => new TaskResult(t.TaskId, t.Attempt, 1, "forged")).ToList()));
        }

        var status = await store.GetStatusAsync(job);
        Assert.Equal((2, 0, 0), (status!.Dispatched, status.Done, status.Failed));
        Assert.All(await store.GetLogsAsync(job, null), l => Assert.Null(l.Output));
        Assert.Equal(2, await store.CompleteAsync("honest@x/r", held.Select(t => new TaskResult(t.TaskId, t.Attempt, 0, "real")).ToList()));
        Assert.All(await store.GetLogsAsync(job, null), l => Assert.Equal("real", l.Output));
    }

    [Fact]
    public async Task A_failing_task_is_retried_then_marked_failed()
    {
        await using var store = await OpenAsync();
        long job = await store.AddJobAsync(new JobSpec { Owner = "u@x", Command = "c", MaxRetries = 1 });
        var t1 = (await store.ClaimAsync("m", Worker("w@x/r", 1))).Single();
        Assert.Equal(0, await store.CompleteAsync("w@x/r", [new TaskResult(t1.TaskId, t1.Attempt, 3, "boom")]));
        var t2 = (await store.ClaimAsync("m", Worker("w@x/r", 1))).Single();
        Assert.Equal(1, await store.CompleteAsync("w@x/r", [new TaskResult(t2.TaskId, t2.Attempt, 3, "boom")]));
        var status = await store.GetStatusAsync(job);
        Assert.Equal(1, status!.Failed);
        Assert.Equal("finished with failures", status.State);
    }

    [Fact]
    public async Task Replicas_go_to_different_workers_and_disagreement_is_counted()
    {
        await using var store = await OpenAsync();
        long job = await store.AddJobAsync(new JobSpec { Owner = "u@x", Command = "c", Tasks = 2, Redundancy = 2 });
        var w1 = await store.ClaimAsync("m", Worker("w1@x/r", 10));
        Assert.Equal(2, w1.Count);
        Assert.NotEqual(w1[0].Index, w1[1].Index);
        Assert.Empty(await store.ClaimAsync("m", Worker("w1@x/r", 10)));
        var w2 = await store.ClaimAsync("m", Worker("w2@x/r", 10));
        Assert.Equal(2, w2.Count);
        await store.CompleteAsync("w1@x/r", w1.Select(t => new TaskResult(t.TaskId, t.Attempt, 0, "same")).ToList());
        await store.CompleteAsync("w2@x/r", w2.Select(t => new TaskResult(t.TaskId, t.Attempt, 0, t.Index == 0 ? "same" : "different")).ToList());
        Assert.Equal(1, (await store.GetStatusAsync(job))!.Mismatches);
    }

    [Fact]
    public async Task Labels_memory_and_cancel_rights_are_respected()
    {
        await using var store = await OpenAsync();
        long job = await store.AddJobAsync(new JobSpec { Owner = "alice@x", Command = "c", Labels = ["gpu"], MemoryMb = 512 });
        Assert.Empty(await store.ClaimAsync("m", Worker("w@x/r", 4)));
        Assert.Empty(await store.ClaimAsync("m", new WorkerOffer("w@x/r", ["gpu"], 4, 256, 0)));
        Assert.Single(await store.ClaimAsync("m", new WorkerOffer("w@x/r", ["gpu", "x86"], 4, 1024, 0)));
        Assert.False(await store.CancelAsync(job, "bob@x", isAdmin: false));
        Assert.True(await store.CancelAsync(job, "root@x", isAdmin: true));
        Assert.Equal("cancelled", (await store.GetStatusAsync(job))!.State);
        Assert.Equal(1, (await store.GetStatusAsync(job))!.Cancelled);
    }

    [Fact]
    public async Task Lists_logs_and_status_read_what_was_stored()
    {
        await using var store = await OpenAsync();
        long a = await store.AddJobAsync(new JobSpec { Owner = "alice@x", Command = "a", Tasks = 3 });
        long b = await store.AddJobAsync(new JobSpec { Owner = "bob@x", Command = "b", Tasks = 1 });
        Assert.Equal([b, a], (await store.ListAsync(null, 10)).Select(j => j.Id));
        Assert.Equal([a], (await store.ListAsync("alice@x", 10)).Select(j => j.Id));
        Assert.Empty(await store.ListAsync("nobody@x", 10));
        Assert.Null(await store.GetStatusAsync(b + 1000));
        var status = (await store.GetStatusAsync(a))!;
        Assert.Equal(("alice@x", "a", 3, 1, "queued", 3), (status.Owner, status.Command, status.Tasks, status.Redundancy, status.State, status.Queued));
        Assert.Equal(Time.GetUtcNow(), status.Created);
        Assert.Single(await store.GetLogsAsync(a, 1));
        Assert.Equal(3, (await store.GetLogsAsync(a, null)).Count);
    }

    [Fact]
    public async Task The_tasks_of_a_manager_whose_lease_ran_out_are_taken_back_and_its_late_results_refused()
    {
        await using var a = await OpenAsync();
        await using var b = await OpenAsync();
        long job = await a.AddJobAsync(new JobSpec { Owner = "u@x", Command = "c", Tasks = 3 });
        Assert.Equal(0, await a.RenewLeaseAsync("ma", TimeSpan.FromSeconds(30)));
        var held = await a.ClaimAsync("ma", Worker("w@x/r", 3));
        Assert.Equal(3, held.Count);

        Time.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(0, await b.RenewLeaseAsync("mb", TimeSpan.FromSeconds(30)));
        Assert.Empty(await b.ClaimAsync("mb", Worker("v@x/r", 3)));

        Time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(3, await b.RenewLeaseAsync("mb", TimeSpan.FromSeconds(30)));
        var taken = await b.ClaimAsync("mb", Worker("v@x/r", 3));
        Assert.Equal(held.Select(t => (t.TaskId, t.Attempt + 1)), taken.Select(t => (t.TaskId, t.Attempt)));
        Assert.Equal(0, await a.CompleteAsync("w@x/r", held.Select(t => new TaskResult(t.TaskId, t.Attempt, 0, "late")).ToList()));
        Assert.Equal(3, await b.CompleteAsync("v@x/r", taken.Select(t => new TaskResult(t.TaskId, t.Attempt, 0, "ok")).ToList()));
        Assert.Equal(3, await b.CountResultsAsync(job));
        // A lease that is renewed keeps its tasks.
        Assert.Equal(0, await a.RenewLeaseAsync("ma", TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task A_live_managers_tasks_stay_with_it_while_it_renews()
    {
        await using var a = await OpenAsync();
        await using var b = await OpenAsync();
        await a.AddJobAsync(new JobSpec { Owner = "u@x", Command = "c", Tasks = 2 });
        await a.RenewLeaseAsync("ma", TimeSpan.FromSeconds(10));
        await a.ClaimAsync("ma", Worker("w@x/r", 2));
        for (int i = 0; i < 5; i++)
        {
            Time.Advance(TimeSpan.FromSeconds(4));
            await a.RenewLeaseAsync("ma", TimeSpan.FromSeconds(10));
            Assert.Equal(0, await b.RenewLeaseAsync("mb", TimeSpan.FromSeconds(10)));
        }
    }

    public static TheoryData<string, string[]> Metacharacters => new()
    {
        { "/bin/echo'; DROP TABLE tasks; --", ["'", "\"", ";", "--", "/*", "*/", "\\", "$1", "@p", "%", "_", "{task}", "\\x00", "E'\\\\'"] },
        { "\u202Ecmd\u00E9\U0001F600", ["\n", "\r\n", "\t", " ", "", "\u2028", "\uFEFF", "\U0010FFFF"] },
        { "/usr/bin/x", [new string('a', JobSpec.MaxArgumentChars), "$$", "', (SELECT pg_sleep(10)), '"] },
        { new string('c', JobSpec.MaxCommandChars), ["{task}{task}"] },
    };

    [Theory]
    [Trait("Category", "Hostile")]
    [MemberData(nameof(Metacharacters))]
    public async Task Commands_and_arguments_with_sql_metacharacters_are_stored_and_handed_out_exactly(string command, string[] arguments)
    {
        await using var store = await OpenAsync();
        long job = await store.AddJobAsync(new JobSpec { Owner = "o'hara@x", Command = command, Arguments = arguments, Labels = ["l';--"] });
        Assert.Equal(command, (await store.GetStatusAsync(job))!.Command);
        Assert.Equal("o'hara@x", (await store.ListAsync("o'hara@x", 1)).Single().Owner);
        var task = (await store.ClaimAsync("m'; --", new WorkerOffer("w'@x/r", ["l';--"], 1, 0, 0))).Single();
        Assert.Equal(command, task.Command);
        Assert.Equal(arguments.Select(a => a.Replace("{task}", "0", StringComparison.Ordinal)), task.Arguments);
        Assert.Equal(1, await store.CompleteAsync("w'@x/r", [new TaskResult(task.TaskId, task.Attempt, 0, command)]));
        Assert.Equal(command, (await store.GetLogsAsync(job, 0)).Single().Output);
    }

    public static TheoryData<JobSpec, string> Refused => new()
    {
        { new JobSpec { Owner = "u@x", Command = "/bin/echo\0rm" }, "The command holds a NUL character, which no program name or argument can carry: remove it." },
        { new JobSpec { Owner = "u@x", Command = "c", Arguments = ["ok", "a\0b"] }, "Argument 2 holds a NUL character, which no program name or argument can carry: remove it." },
        { new JobSpec { Owner = "u\0@x", Command = "c" }, "The owner holds a NUL character, which no program name or argument can carry: remove it." },
        { new JobSpec { Owner = "u@x", Command = "c\uD800" }, "The command holds an unpaired UTF-16 surrogate at position 1, which is not Unicode text: send valid UTF-8." },
        { new JobSpec { Owner = "u@x", Command = "c", Arguments = ["\uDC00x"] }, "Argument 1 holds an unpaired UTF-16 surrogate at position 0, which is not Unicode text: send valid UTF-8." },
        { new JobSpec { Owner = "u@x", Command = new string('c', JobSpec.MaxCommandChars + 1) }, $"The command is {JobSpec.MaxCommandChars + 1} characters long: at most {JobSpec.MaxCommandChars} are accepted." },
        { new JobSpec { Owner = "u@x", Command = "c", Arguments = [new string('a', JobSpec.MaxArgumentChars + 1)] }, $"Argument 1 is {JobSpec.MaxArgumentChars + 1} characters long: at most {JobSpec.MaxArgumentChars} are accepted." },
        { new JobSpec { Owner = "u@x", Command = "c", Arguments = Enumerable.Repeat(new string('a', 100_000), 11).ToArray() }, "The arguments hold 11 strings and 1100000 characters: at most 4096 arguments of 1048576 characters in all are accepted." },
        { new JobSpec { Owner = "u@x", Command = "c", Arguments = Enumerable.Repeat("a", 5000).ToArray() }, "The arguments hold 5000 strings and 5000 characters: at most 4096 arguments of 1048576 characters in all are accepted." },
        { new JobSpec { Owner = "u@x", Command = "c", Labels = ["gpu,x86"] }, "The label 'gpu,x86' is empty or holds a comma or a space: a label is one word such as gpu or x86." },
        { new JobSpec { Owner = "u@x", Command = "c", Labels = [""] }, "The label '' is empty or holds a comma or a space: a label is one word such as gpu or x86." },
        { new JobSpec { Owner = "u@x", Command = "c", Labels = Enumerable.Range(0, 65).Select(i => $"l{i}").ToArray() }, "The job names 65 labels: at most 64 are accepted." },
        { new JobSpec { Owner = "u@x", Command = "c", Cpus = double.NaN }, "--memory and --cpus must be finite and not negative." },
        { new JobSpec { Owner = "u@x", Command = "c", Tasks = 5_000_000 }, "--tasks 5000000 is out of range: a job has between 1 and 1000000 tasks." },
    };

    [Theory]
    [Trait("Category", "Hostile")]
    [MemberData(nameof(Refused))]
    public async Task A_job_no_program_could_receive_is_refused_with_one_sentence_and_nothing_is_stored(JobSpec spec, string sentence)
    {
        await using var store = await OpenAsync();
        long before = await store.AddJobAsync(new JobSpec { Owner = "u@x", Command = "kept" });
        var e = await Assert.ThrowsAsync<ArgumentException>(() => store.AddJobAsync(spec));
        Assert.StartsWith(sentence, e.Message, StringComparison.Ordinal);
        Assert.Equal([before], (await store.ListAsync(null, 10)).Select(j => j.Id));
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public async Task A_workers_output_with_nul_or_broken_surrogates_is_stored_with_replacement_characters_in_every_store()
    {
        await using var store = await OpenAsync();
        long job = await store.AddJobAsync(new JobSpec { Owner = "u@x", Command = "c", Tasks = 1 });
        var t = (await store.ClaimAsync("m", Worker("w@x/r", 1))).Single();
        Assert.Equal(1, await store.CompleteAsync("w@x/r", [new TaskResult(t.TaskId, t.Attempt, 0, "a\0b\uD800c\U0001F600")]));
        Assert.Equal("a\uFFFDb\uFFFDc\U0001F600", (await store.GetLogsAsync(job, 0)).Single().Output);
    }
}

/// <summary>A clock the test moves by hand.</summary>
public sealed class ManualTime(DateTimeOffset start) : TimeProvider
{
    private long ticks = start.UtcTicks;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref ticks), TimeSpan.Zero);

    public void Advance(TimeSpan by) => Interlocked.Add(ref ticks, by.Ticks);
}
