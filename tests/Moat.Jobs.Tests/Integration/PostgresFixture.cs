using System.Runtime.Versioning;
using Moat.Storage.Postgres;

namespace Moat.Jobs.Tests.Integration;

/// <summary>One private PostgreSQL cluster (Moat.Storage's) for the collection; each test takes a database of its own.</summary>
[SupportedOSPlatform("linux")]
public sealed class PostgresFixture : IAsyncLifetime
{
    private int counter;

    public PostgresCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync() => Cluster = await PostgresCluster.StartAsync();

    public async Task DisposeAsync() => await Cluster.DisposeAsync();

    /// <summary>An empty database and its connection string.</summary>
    public Task<string> NewDatabaseAsync() => Cluster.CreateDatabaseAsync($"jobs{Interlocked.Increment(ref counter)}");
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>
{
    public const string Name = "postgres";
}
