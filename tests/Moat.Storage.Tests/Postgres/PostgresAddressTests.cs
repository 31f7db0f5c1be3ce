using System.Runtime.Versioning;
using Moat.Storage.Postgres;
using Npgsql;

namespace Moat.Storage.Tests.Postgres;

[SupportedOSPlatform("linux")]
public sealed class PostgresAddressTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("moat-pgaddr-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void An_address_on_the_command_line_becomes_a_connection_string()
    {
        var b = new NpgsqlConnectionStringBuilder(PostgresAddress.FromCommandLine("postgres://jobs@db.example:6543/moat_jobs"));
        Assert.Equal(("db.example", 6543, "jobs", "moat_jobs"), (b.Host, b.Port, b.Username, b.Database));
        Assert.Null(b.Password);
        Assert.Equal(5432, new NpgsqlConnectionStringBuilder(PostgresAddress.FromCommandLine("postgresql://[::1]/x")).Port);
    }

    [Theory]
    [Trait("Category", "Hostile")]
    [InlineData("postgres://jobs:hunter2@db/moat")]
    [InlineData("postgres://jobs:@db/moat")]
    public void An_address_carrying_a_password_on_the_command_line_is_refused(string address)
    {
        var e = Assert.Throws<StorageException>(() => PostgresAddress.FromCommandLine(address));
        Assert.StartsWith("The --store address carries a password", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [Trait("Category", "Hostile")]
    [InlineData("postgres://db")]
    [InlineData("postgres://db/")]
    [InlineData("postgres://db/a/b")]
    [InlineData("postgres://db/moat?sslmode=disable")]
    [InlineData("postgres:///moat")]
    [InlineData("mysql://db/moat")]
    public void A_malformed_address_is_refused_with_one_sentence(string address)
    {
        var e = Assert.Throws<StorageException>(() => PostgresAddress.FromCommandLine(address));
        Assert.Contains("postgres://user@host:5432/database", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_0600_file_holds_the_address_with_its_password_or_a_connection_string()
    {
        string file = await WriteAsync("a", "postgres://jobs:s%3Acret@127.0.0.1:7000/moat\n", UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var b = new NpgsqlConnectionStringBuilder(await PostgresAddress.FromFileAsync(file));
        Assert.Equal(("127.0.0.1", 7000, "jobs", "s:cret", "moat"), (b.Host, b.Port, b.Username, b.Password, b.Database));
        string keywords = await WriteAsync("b", "Host=127.0.0.1;Port=7001;Username=u;Password=p;Database=d", UnixFileMode.UserRead);
        Assert.Equal(7001, new NpgsqlConnectionStringBuilder(await PostgresAddress.FromFileAsync(keywords)).Port);
    }

    [Theory]
    [Trait("Category", "Hostile")]
    [InlineData(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead)]
    [InlineData(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead)]
    [InlineData(UnixFileMode.UserRead | UnixFileMode.OtherWrite)]
    public async Task A_connection_file_others_can_read_or_change_is_refused(UnixFileMode mode)
    {
        string file = await WriteAsync("open", "postgres://jobs:pw@127.0.0.1/moat", mode);
        var e = await Assert.ThrowsAsync<StorageException>(() => PostgresAddress.FromFileAsync(file));
        Assert.StartsWith($"The connection file {file} can be read or changed by other users", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("pw@", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [Trait("Category", "Hostile")]
    [InlineData("")]
    [InlineData("postgres://a@h/d\npostgres://b@h/d")]
    [InlineData("Host=h;Bogus Keyword=1")]
    [InlineData("postgres://a:secret@/d")]
    public async Task A_connection_file_that_is_not_one_address_is_refused_with_one_sentence(string content)
    {
        string file = await WriteAsync("bad", content, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var e = await Assert.ThrowsAsync<StorageException>(() => PostgresAddress.FromFileAsync(file));
        Assert.Contains(file, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public async Task A_huge_or_missing_connection_file_is_refused_with_one_sentence()
    {
        string huge = await WriteAsync("huge", new string('x', 100_000), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Assert.Contains("larger than 8 KiB", (await Assert.ThrowsAsync<StorageException>(() => PostgresAddress.FromFileAsync(huge))).Message, StringComparison.Ordinal);
        string missing = Path.Combine(folder, "missing");
        Assert.StartsWith($"The connection file {missing} does not exist", (await Assert.ThrowsAsync<StorageException>(() => PostgresAddress.FromFileAsync(missing))).Message, StringComparison.Ordinal);
    }

    private async Task<string> WriteAsync(string name, string content, UnixFileMode mode)
    {
        string path = Path.Combine(folder, name);
        await File.WriteAllTextAsync(path, content);
        File.SetUnixFileMode(path, mode);
        return path;
    }
}
