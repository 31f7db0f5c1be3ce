using System.Runtime.Versioning;
using Npgsql;

namespace Moat.Storage.Postgres;

/// <summary>
/// Turns what an operator gives (a <c>postgres://user@host:port/db</c> address on the command line, or a 0600 file
/// holding an address or an Npgsql connection string with its password) into a connection string. A password never
/// comes from the command line: an address that carries one is refused, and the password is read from the file, from
/// PGPASSWORD, or from a ~/.pgpass passfile (Npgsql reads those itself).
/// </summary>
[SupportedOSPlatform("linux")]
public static class PostgresAddress
{
    /// <summary>True when <paramref name="store"/> names a PostgreSQL server rather than a file.</summary>
    public static bool IsAddress(string store) =>
        store.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || store.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase);

    /// <summary>Parses an address given on the command line; refuses one that carries a password.</summary>
    public static string FromCommandLine(string address)
    {
        var builder = Parse(address, "--store");
        // Any password field counts, an empty one too: what follows the colon is meant to be secret.
        if (!string.IsNullOrEmpty(builder.Password) || new Uri(address).UserInfo.Contains(':', StringComparison.Ordinal))
        {
            throw new StorageException("The --store address carries a password, which would be visible to every user in the process list: put the address in a 0600 file and pass --store-connection-file FILE instead.");
        }

        return builder.ConnectionString;
    }

    /// <summary>Reads a connection file: 0600 (no group or other bit), one line, an address or an Npgsql connection string.</summary>
    public static async Task<string> FromFileAsync(string path, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
        {
            throw new StorageException($"The connection file {path} does not exist: write the address (postgres://user:password@host:port/db) into it with mode 0600.");
        }

        var mode = File.GetUnixFileMode(path);
        if ((mode & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute)) != 0)
        {
            throw new StorageException($"The connection file {path} can be read or changed by other users (mode {Convert.ToString((int)mode, 8)}); it holds a password: make it 0600 (chmod 600 {path}).");
        }

        if (new FileInfo(path).Length > 8192)
        {
            throw new StorageException($"The connection file {path} is larger than 8 KiB; it should hold one line: an address (postgres://user:password@host:port/db) or a connection string.");
        }

        string text = (await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false)).Trim();
        if (text.Length == 0 || text.Contains('\n', StringComparison.Ordinal))
        {
            throw new StorageException($"The connection file {path} should hold exactly one line: an address (postgres://user:password@host:port/db) or a connection string.");
        }

        return IsAddress(text) ? Parse(text, path).ConnectionString : ParseKeywords(text, path);
    }

    private static string ParseKeywords(string text, string where)
    {
        try
        {
            return new NpgsqlConnectionStringBuilder(text).ConnectionString;
        }
        catch (ArgumentException e)
        {
            throw new StorageException($"The connection string in {where} is not valid ({e.Message}): write 'Host=127.0.0.1;Port=5432;Username=moat;Password=…;Database=moat' or a postgres:// address.", e);
        }
    }

    private static NpgsqlConnectionStringBuilder Parse(string address, string where)
    {
        const string example = "postgres://user@host:5432/database";
        if (!IsAddress(address) || !Uri.TryCreate(address, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            throw new StorageException($"'{Redact(address)}' in {where} is not a PostgreSQL address: write {example}.");
        }

        string database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (database.Length == 0 || database.Contains('/', StringComparison.Ordinal))
        {
            throw new StorageException($"'{Redact(address)}' in {where} names no database: write {example}.");
        }

        if (uri.Query.Length > 0 || uri.Fragment.Length > 0)
        {
            throw new StorageException($"'{Redact(address)}' in {where} has options after the database, which are not read: write {example}, and put other settings in a connection file as a connection string.");
        }

        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = uri.HostNameType == UriHostNameType.IPv6 ? uri.Host.Trim('[', ']') : uri.Host,
            Port = uri.IsDefaultPort || uri.Port < 0 ? 5432 : uri.Port,
            Database = database,
        };
        if (uri.UserInfo.Length > 0)
        {
            string[] parts = uri.UserInfo.Split(':', 2);
            builder.Username = Uri.UnescapeDataString(parts[0]);
            if (parts.Length == 2)
            {
                builder.Password = Uri.UnescapeDataString(parts[1]);
            }
        }

        return builder;
    }

    /// <summary>The address with any password replaced, fit for an error message.</summary>
    public static string Redact(string address)
    {
        int scheme = address.IndexOf("://", StringComparison.Ordinal);
        int at = address.LastIndexOf('@');
        if (scheme < 0 || at < scheme)
        {
            return address.Length > 200 ? address[..200] + "…" : address;
        }

        int colon = address.IndexOf(':', scheme + 3);
        return colon > 0 && colon < at ? string.Concat(address.AsSpan(0, colon + 1), "***", address.AsSpan(at)) : address;
    }
}
