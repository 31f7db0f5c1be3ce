namespace Moat.Storage.Postgres;

/// <summary>Settings of a private PostgreSQL cluster that Moat creates and runs (tests, single-machine deployments).</summary>
public sealed record PostgresClusterOptions
{
    public static PostgresClusterOptions Default { get; } = new();

    /// <summary>Folder holding the cluster, its socket folder and its secrets; null makes a temporary one removed on dispose.</summary>
    public string? Directory { get; init; }

    /// <summary>Loopback address the server listens on (TCP); its Unix socket is in a 0700 folder beside the data.</summary>
    public string Address { get; init; } = "127.0.0.1";

    /// <summary>TCP port; 0 picks a free one at each start (the connection file says which).</summary>
    public int Port { get; init; }

    /// <summary>System account the server runs as (PostgreSQL refuses to run as root).</summary>
    public string RunAsUser { get; init; } = "postgres";

    /// <summary>Folder of initdb, postgres and pg_ctl; null finds the newest under /usr/lib/postgresql.</summary>
    public string? BinDirectory { get; init; }

    /// <summary>The cluster's superuser, authenticated by a generated password (SCRAM-SHA-256) on the socket and TCP alike.</summary>
    public string User { get; init; } = "moat";

    /// <summary>Database created at the first start.</summary>
    public string Database { get; init; } = "moat";

    public int MaxConnections { get; init; } = 200;

    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Returns one sentence naming what is wrong, or null when the options are acceptable.</summary>
    public string? Validate()
    {
        if (!System.Net.IPAddress.TryParse(Address, out var ip) || !System.Net.IPAddress.IsLoopback(ip))
        {
            return $"The PostgreSQL address {Address} is not a loopback address: a cluster Moat starts listens on 127.0.0.1 or ::1 only.";
        }

        if (Port < 0 || Port > 65535)
        {
            return $"The PostgreSQL port {Port} is out of range: use 1 to 65535, or 0 for a free one.";
        }

        foreach (var (what, name) in new[] { ("user", User), ("database", Database) })
        {
            if (name.Length is 0 or > 63 || !name.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_') || char.IsDigit(name[0]))
            {
                return $"The PostgreSQL {what} name '{name}' is not accepted: use 1 to 63 lower-case letters, digits and underscores, starting with a letter.";
            }
        }

        return MaxConnections is < 10 or > 10_000 ? $"MaxConnections {MaxConnections} is out of range: use 10 to 10000." : null;
    }
}
