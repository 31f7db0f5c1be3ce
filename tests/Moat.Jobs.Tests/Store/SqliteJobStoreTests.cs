using Microsoft.Data.Sqlite;
using Moat.Jobs.Store;
using Moat.Storage;

namespace Moat.Jobs.Tests.Store;

public sealed class SqliteJobStoreTests : JobStoreContract, IDisposable
{
    private readonly string path = Path.Combine(Path.GetTempPath(), $"moat-jobs-{Guid.NewGuid():N}.db");

    public void Dispose()
    {
        foreach (var f in new[] { path, path + "-wal", path + "-shm" })
        {
            File.Delete(f);
        }
    }

    protected override async Task<IJobStore> OpenAsync() => await SqliteJobStore.OpenAsync(path, Time);

    [Fact]
    public async Task A_store_written_before_migrations_existed_is_adopted_with_its_jobs()
    {
        // The tables as SqliteJobStore created them before schema_version existed, with a job in them.
        await using (var old = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await old.OpenAsync();
            await using var create = old.CreateCommand();
            using var reader = new StreamReader(typeof(SqliteJobStore).Assembly.GetManifestResourceStream("Moat.Jobs.Store.Migrations.Sqlite.0001_jobs.sql")!);
            create.CommandText = await reader.ReadToEndAsync() + """
                INSERT INTO jobs VALUES (7, 'u@x', 'kept', '[]', 1, '', 0, 0, 0, 0, 1, 60000, 'active', 0);
                INSERT INTO tasks (job, idx, replica, priority, state) VALUES (7, 0, 0, 0, 0);
                """;
            await create.ExecuteNonQueryAsync();
        }

        await using var store = await OpenAsync();
        Assert.Equal("kept", (await store.GetStatusAsync(7))!.Command);
        Assert.Single(await store.ClaimAsync("m", new WorkerOffer("w@x/r", [], 1, 0, 0)));
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public async Task A_store_from_a_newer_moat_is_refused_with_one_sentence()
    {
        await using (var store = await OpenAsync())
        {
            await store.AddJobAsync(new JobSpec { Owner = "u@x", Command = "kept" });
        }

        await using (var newer = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await newer.OpenAsync();
            await using var bump = newer.CreateCommand();
            bump.CommandText = "INSERT INTO schema_version VALUES ('jobs', 99, 'future', 0)";
            await bump.ExecuteNonQueryAsync();
        }

        var e = await Assert.ThrowsAsync<StorageException>(() => OpenAsync());
        Assert.StartsWith($"The jobs store at {path} is at schema version 99, newer than this Moat knows (2);", e.Message, StringComparison.Ordinal);
    }
}
