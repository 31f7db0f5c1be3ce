using System.Runtime.Versioning;
using System.Text.Json;
using Moat.Jobs.Store;
using Moat.Storage.Postgres;

namespace Moat.Jobs.Tests.Cli;

/// <summary>'moat job store serve' as a deployment runs it. Console output is process-wide: these run in the CLI tests' collection.</summary>
[Collection(Integration.FabricCollection.Name)]
[Trait("Category", "Integration")]
[SupportedOSPlatform("linux")]
public sealed class StoreServeCommandTests
{
    [Fact]
    public async Task Store_serve_runs_a_cluster_managers_can_use_and_a_restart_keeps_the_jobs()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"moat-store-serve-{Guid.NewGuid():N}");
        try
        {
            long job;
            await using (var first = await ServeAsync(dir))
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(first.ConnectionFile));
                await using var store = await PostgresJobStore.OpenAsync(await PostgresAddress.FromFileAsync(first.ConnectionFile));
                job = await store.AddJobAsync(new JobSpec { Owner = "alice@x", Command = "kept", Tasks = 3 });
            }

            Assert.False(File.Exists(Path.Combine(dir, "data", "postmaster.pid")), "PostgreSQL outlived 'moat job store serve'");
            await using (var second = await ServeAsync(dir))
            {
                await using var store = await PostgresJobStore.OpenAsync(await PostgresAddress.FromFileAsync(second.ConnectionFile));
                var status = await store.GetStatusAsync(job);
                Assert.Equal(("kept", 3), (status!.Command, status.Queued));
            }
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    private static async Task<Serving> ServeAsync(string dir)
    {
        var output = new StringWriter();
        var saved = Console.Out;
        Console.SetOut(TextWriter.Synchronized(output));
        var stop = new CancellationTokenSource();
        var run = Moat.Jobs.Cli.JobCommands.Create().Parse(["store", "serve", "--dir", dir, "--port", "0", "--json"]).InvokeAsync(null, stop.Token);
        try
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
            while (!output.ToString().Contains('\n', StringComparison.Ordinal))
            {
                Assert.False(run.IsCompleted, $"store serve ended before serving: exit {(run.IsCompleted ? await run : 0)}");
                Assert.True(DateTime.UtcNow < deadline, "store serve printed nothing within 90 s");
                await Task.Delay(20);
            }
        }
        catch
        {
            await stop.CancelAsync();
            Console.SetOut(saved);
            throw;
        }

        Console.SetOut(saved);
        using var line = JsonDocument.Parse(output.ToString());
        return new Serving(run, stop, line.RootElement.GetProperty("connectionFile").GetString()!);
    }

    private sealed record Serving(Task<int> Run, CancellationTokenSource Stop, string ConnectionFile) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Stop.CancelAsync();
            Assert.Equal(0, await Run.WaitAsync(TimeSpan.FromSeconds(60)));
            Stop.Dispose();
        }
    }
}
