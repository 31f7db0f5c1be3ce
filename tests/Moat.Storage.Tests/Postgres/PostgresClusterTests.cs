using System.Runtime.Versioning;
using Moat.Storage.Postgres;
using Npgsql;

namespace Moat.Storage.Tests.Postgres;

[Trait("Category", "Integration")]
[SupportedOSPlatform("linux")]
public sealed class PostgresClusterTests
{
    private const UnixFileMode GroupOrOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    [Fact]
    public async Task A_cluster_serves_its_database_keeps_secrets_private_and_is_removed_on_dispose()
    {
        string directory;
        await using (var cluster = await PostgresCluster.StartAsync())
        {
            directory = cluster.Directory;
            await using (var connection = new NpgsqlConnection(cluster.ConnectionString()))
            {
                await connection.OpenAsync();
                await using var who = new NpgsqlCommand("SELECT current_user || '@' || current_database()", connection);
                Assert.Equal("moat@moat", await who.ExecuteScalarAsync());
            }

            foreach (string folder in new[] { cluster.Directory, cluster.SocketDirectory, cluster.DataDirectory })
            {
                Assert.Equal((UnixFileMode)0, File.GetUnixFileMode(folder) & GroupOrOther);
            }

            foreach (string file in new[] { Path.Combine(cluster.Directory, "password"), cluster.ConnectionFile })
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
            }

            Assert.False(File.Exists(Path.Combine(cluster.Directory, "initdb.pw")));
            Assert.Equal(cluster.ConnectionString(), (await File.ReadAllTextAsync(cluster.ConnectionFile)).Trim());
            // The password is in no process's command line.
            foreach (string cmdline in Directory.GetDirectories("/proc").Select(d => Path.Combine(d, "cmdline")).Where(File.Exists))
            {
                string text;
                try
                {
                    text = await File.ReadAllTextAsync(cmdline);
                }
                catch (IOException)
                {
                    continue;
                }

                Assert.DoesNotContain(cluster.Password, text, StringComparison.Ordinal);
            }
        }

        Assert.False(Directory.Exists(directory));
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public async Task Logins_without_the_password_are_refused_on_tcp_and_on_the_socket()
    {
        await using var cluster = await PostgresCluster.StartAsync();
        foreach (var builder in new[]
                 {
                     new NpgsqlConnectionStringBuilder { Host = cluster.Address, Port = cluster.Port, Username = "moat", Password = "wrong", Database = "moat", Pooling = false },
                     new NpgsqlConnectionStringBuilder { Host = cluster.Address, Port = cluster.Port, Username = "postgres", Password = "", Database = "postgres", Pooling = false },
                     new NpgsqlConnectionStringBuilder { Host = cluster.SocketDirectory, Port = cluster.Port, Username = "postgres", Database = "postgres", Pooling = false },
                     new NpgsqlConnectionStringBuilder { Host = cluster.SocketDirectory, Port = cluster.Port, Username = "moat", Password = "wrong", Database = "moat", Pooling = false },
                 })
        {
            await using var connection = new NpgsqlConnection(builder.ConnectionString);
            await Assert.ThrowsAnyAsync<NpgsqlException>(() => connection.OpenAsync());
        }
    }

    [Fact]
    public async Task A_restart_keeps_what_was_committed_and_a_second_start_on_the_folder_reuses_the_cluster()
    {
        string directory = Path.Combine(Path.GetTempPath(), $"moat-pg-test-{Guid.NewGuid():N}");
        try
        {
            await using (var cluster = await PostgresCluster.StartAsync(new PostgresClusterOptions { Directory = directory }))
            {
                await ExecuteAsync(cluster.ConnectionString(), "CREATE TABLE kept (v TEXT); INSERT INTO kept VALUES ('before')");
                await cluster.RestartAsync();
                await ExecuteAsync(cluster.ConnectionString(), "INSERT INTO kept VALUES ('after')");
            }

            await using (var again = await PostgresCluster.StartAsync(new PostgresClusterOptions { Directory = directory }))
            {
                await using var connection = new NpgsqlConnection(again.ConnectionString());
                await connection.OpenAsync();
                await using var read = new NpgsqlCommand("SELECT string_agg(v, ',' ORDER BY v) FROM kept", connection);
                Assert.Equal("after,before", await read.ExecuteScalarAsync());
            }

            Assert.True(Directory.Exists(directory));
        }
        finally
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }

    [Theory]
    [Trait("Category", "Hostile")]
    [InlineData("0.0.0.0")]
    [InlineData("198.18.0.1")]
    [InlineData("not-an-address")]
    public async Task A_cluster_listens_on_loopback_only(string address)
    {
        var e = await Assert.ThrowsAsync<StorageException>(() => PostgresCluster.StartAsync(new PostgresClusterOptions { Address = address }));
        Assert.Contains("not a loopback address", e.Message, StringComparison.Ordinal);
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}

[Collection(PostgresCollection.Name)]
[Trait("Category", "Integration")]
[SupportedOSPlatform("linux")]
public sealed class PostgresClusterDatabaseTests(PostgresFixture postgres)
{
    [Theory]
    [Trait("Category", "Hostile")]
    [InlineData("moat; DROP DATABASE postgres")]
    [InlineData("Moat")]
    [InlineData("1db")]
    [InlineData("")]
    public async Task A_database_name_that_is_not_a_plain_identifier_is_refused_with_one_sentence(string name)
    {
        var e = await Assert.ThrowsAsync<StorageException>(() => postgres.Cluster.CreateDatabaseAsync(name));
        Assert.StartsWith($"The PostgreSQL database name '{name}' is not accepted", e.Message, StringComparison.Ordinal);
    }
}
