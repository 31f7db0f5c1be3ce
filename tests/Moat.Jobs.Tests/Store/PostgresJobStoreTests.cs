using System.Runtime.Versioning;
using Moat.Jobs.Store;
using Moat.Jobs.Tests.Integration;

namespace Moat.Jobs.Tests.Store;

[Collection(PostgresCollection.Name)]
[Trait("Category", "Integration")]
[SupportedOSPlatform("linux")]
public sealed class PostgresJobStoreTests(PostgresFixture postgres) : JobStoreContract, IAsyncLifetime
{
    private string connectionString = null!;

    public async Task InitializeAsync() => connectionString = await postgres.NewDatabaseAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    protected override async Task<IJobStore> OpenAsync() => await PostgresJobStore.OpenAsync(connectionString, Time);

    [Fact]
    public async Task Concurrent_first_opens_migrate_the_database_once()
    {
        var stores = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => OpenAsync()));
        foreach (var s in stores)
        {
            await s.DisposeAsync();
        }

        await using var store = await OpenAsync();
        Assert.Equal(1, await store.AddJobAsync(new JobSpec { Owner = "u@x", Command = "c" }));
    }

    [Fact]
    public async Task A_large_job_is_stored_in_one_statement_in_index_order()
    {
        await using var store = await OpenAsync();
        long job = await store.AddJobAsync(new JobSpec { Owner = "u@x", Command = "c", Tasks = 50_000, Redundancy = 2 });
        var status = (await store.GetStatusAsync(job))!;
        Assert.Equal(100_000, status.Queued);
        var first = await store.ClaimAsync("m", new WorkerOffer("w@x/r", [], 3, 0, 0));
        Assert.Equal([0, 1], first.Select(t => t.Index));
        Assert.Equal([1, 0], (await store.GetLogsAsync(job, 0)).Select(l => l.Attempt));
    }
}
