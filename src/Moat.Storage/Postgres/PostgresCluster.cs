using System.Diagnostics;
using System.Runtime.Versioning;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Moat.Linux.Files;
using Npgsql;

namespace Moat.Storage.Postgres;

/// <summary>
/// A private PostgreSQL cluster on loopback that Moat creates (initdb), starts and stops: the shared store of tests
/// (one per test collection) and of single-machine deployments. Layout of <see cref="Directory"/> (0700, owned by the
/// server's account): <c>data/</c> (the cluster), <c>run/</c> (its Unix socket, 0700), <c>password</c> and
/// <c>connection</c> (0600: the superuser's generated password, and a connection string for
/// <c>--store-connection-file</c>). Only SCRAM-SHA-256 password logins are accepted, on the socket and on TCP.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class PostgresCluster : IAsyncDisposable
{
    private readonly PostgresClusterOptions options;
    private readonly bool ownsDirectory;
    private readonly string bin;
    private readonly Queue<string> lastLines = new();
    private Process? process;

    private PostgresCluster(PostgresClusterOptions options, string directory, bool ownsDirectory, string bin, string password)
    {
        this.options = options;
        Directory = directory;
        this.ownsDirectory = ownsDirectory;
        this.bin = bin;
        Password = password;
    }

    public string Directory { get; }

    public string DataDirectory => Path.Combine(Directory, "data");

    public string SocketDirectory => Path.Combine(Directory, "run");

    /// <summary>A 0600 file holding the connection string of <see cref="Database"/> (for <c>--store-connection-file</c>).</summary>
    public string ConnectionFile => Path.Combine(Directory, "connection");

    public string Address => options.Address;

    public int Port { get; private set; }

    public string User => options.User;

    public string Database => options.Database;

    /// <summary>The superuser's password (also in the 0600 file <c>password</c>); never passed on a command line.</summary>
    public string Password { get; }

    public bool IsRunning => process is { HasExited: false };

    /// <summary>Connection string to <paramref name="database"/> (default: <see cref="Database"/>) over TCP on loopback.</summary>
    public string ConnectionString(string? database = null) => new NpgsqlConnectionStringBuilder
    {
        Host = Address,
        Port = Port,
        Username = User,
        Password = Password,
        Database = database ?? Database,
    }.ConnectionString;

    /// <summary>Creates the cluster if its folder holds none, starts it, and returns once it accepts logins.</summary>
    public static async Task<PostgresCluster> StartAsync(PostgresClusterOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= PostgresClusterOptions.Default;
        if (options.Validate() is { } problem)
        {
            throw new StorageException(problem);
        }

        string bin = options.BinDirectory ?? FindBin();
        if (!File.Exists(Path.Combine(bin, "initdb")))
        {
            throw new StorageException($"PostgreSQL is not installed (no initdb in {bin}); install it with 'apt-get install -y postgresql' or set BinDirectory.");
        }

        bool owns = options.Directory is null;
        string directory = options.Directory ?? Path.Combine(Path.GetTempPath(), $"moat-pg-{Guid.NewGuid():N}");
        SecretFile.CreateFolder(directory);
        string passwordPath = Path.Combine(directory, "password");
        string password;
        if (File.Exists(passwordPath))
        {
            password = (await File.ReadAllTextAsync(passwordPath, cancellationToken).ConfigureAwait(false)).Trim();
        }
        else
        {
            password = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
            await SecretFile.WriteLineAsync(passwordPath, password, cancellationToken).ConfigureAwait(false);
        }

        var cluster = new PostgresCluster(options, directory, owns, bin, password);
        try
        {
            await cluster.InitializeAsync(cancellationToken).ConfigureAwait(false);
            await cluster.StartProcessAsync(cancellationToken).ConfigureAwait(false);
            await cluster.CreateDatabaseAsync(options.Database, cancellationToken).ConfigureAwait(false);
            await SecretFile.WriteLineAsync(cluster.ConnectionFile, cluster.ConnectionString(), cancellationToken).ConfigureAwait(false);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Creates <paramref name="name"/> unless it exists (an empty database per test keeps tests apart); returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string name, CancellationToken cancellationToken = default)
    {
        if ((options with { Database = name }).Validate() is { } problem)
        {
            throw new StorageException(problem);
        }

        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var exists = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = @name", connection);
        exists.Parameters.AddWithValue("name", name);
        if (await exists.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is null)
        {
            // The name was checked above to be [a-z_][a-z0-9_]*: safe to write as an identifier.
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        return ConnectionString(name);
    }

    /// <summary>Stops the server (fast shutdown: sessions are ended, committed data is kept); the cluster stays on disk.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        var p = process;
        if (p is null)
        {
            return;
        }

        if (!p.HasExited)
        {
            await RunAsync(Path.Combine(bin, "pg_ctl"), ["stop", "-D", DataDirectory, "-m", "fast", "-w", "-t", "30"], cancellationToken, check: false).ConfigureAwait(false);
            using var grace = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            grace.CancelAfter(TimeSpan.FromSeconds(35));
            try
            {
                await p.WaitForExitAsync(grace.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                p.Kill(entireProcessTree: true);
                await p.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        p.Dispose();
        process = null;
    }

    /// <summary>Stops and starts the server with its data (fault drills: every client loses its session).</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        await StopAsync(cancellationToken).ConfigureAwait(false);
        await StartProcessAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Waits until the server exits (foreground use).</summary>
    public Task WaitForExitAsync(CancellationToken cancellationToken = default) =>
        process?.WaitForExitAsync(cancellationToken) ?? Task.CompletedTask;

    /// <summary>Stops the server; a temporary cluster's folder is removed, even when the caller's test failed.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync().ConfigureAwait(false);
        }
        finally
        {
            if (ownsDirectory && System.IO.Directory.Exists(Directory))
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
        }
    }

    private static string FindBin()
    {
        const string root = "/usr/lib/postgresql";
        var newest = System.IO.Directory.Exists(root)
            ? System.IO.Directory.GetDirectories(root).Select(d => (Dir: d, Ok: int.TryParse(Path.GetFileName(d), CultureInfo.InvariantCulture, out int v), V: v))
                .Where(d => d.Ok).OrderByDescending(d => d.V).Select(d => d.Dir).FirstOrDefault()
            : null;
        return Path.Combine(newest ?? Path.Combine(root, "15"), "bin");
    }

    private async Task InitializeAsync(CancellationToken cancellationToken)
    {
        System.IO.Directory.CreateDirectory(SocketDirectory);
        File.SetUnixFileMode(SocketDirectory, SecretFile.FolderMode);
        var (uid, gid) = await AccountAsync(cancellationToken).ConfigureAwait(false);
        // The server's account owns the folder (it must reach data/ and run/); the secret files stay root's, 0600.
        FileOwner.Set(Directory, uid, gid);
        FileOwner.Set(SocketDirectory, uid, gid);
        if (File.Exists(Path.Combine(DataDirectory, "PG_VERSION")))
        {
            return;
        }

        // initdb reads the superuser's password from a file the server's account can read; it is removed at once.
        string pwfile = Path.Combine(Directory, "initdb.pw");
        await File.WriteAllTextAsync(pwfile, Password + "\n", cancellationToken).ConfigureAwait(false);
        File.SetUnixFileMode(pwfile, SecretFile.FileMode);
        FileOwner.Set(pwfile, uid, gid);
        try
        {
            await RunAsync(Path.Combine(bin, "initdb"),
                ["-D", DataDirectory, "-U", options.User, "--pwfile", pwfile, "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale"],
                cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            File.Delete(pwfile);
        }
    }

    private async Task StartProcessAsync(CancellationToken cancellationToken)
    {
        Port = options.Port != 0 ? options.Port : FreePort(options.Address);
        var start = AsServer(Path.Combine(bin, "postgres"),
            ["-D", DataDirectory, "-c", $"listen_addresses={options.Address}", "-c", $"port={Port.ToString(CultureInfo.InvariantCulture)}",
             "-c", $"unix_socket_directories={SocketDirectory}", "-c", "unix_socket_permissions=0700",
             "-c", $"max_connections={options.MaxConnections.ToString(CultureInfo.InvariantCulture)}", "-c", "logging_collector=off"]);
        start.RedirectStandardError = true;
        start.RedirectStandardOutput = true;
        var p = Process.Start(start) ?? throw new StorageException("setpriv could not be started; it is part of util-linux.");
        p.ErrorDataReceived += (_, e) => Remember(e.Data);
        p.OutputDataReceived += (_, e) => Remember(e.Data);
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        process = p;

        var deadline = DateTime.UtcNow + options.StartTimeout;
        string probe = new NpgsqlConnectionStringBuilder(ConnectionString("postgres")) { Pooling = false, Timeout = 5 }.ConnectionString;
        while (true)
        {
            if (p.HasExited)
            {
                throw new StorageException($"PostgreSQL exited with code {p.ExitCode} while starting on {options.Address}:{Port}: {Tail()}");
            }

            try
            {
                await using var connection = new NpgsqlConnection(probe);
                await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (e is NpgsqlException or SocketException or IOException && DateTime.UtcNow < deadline)
            {
                // Not accepting logins yet (starting up, or recovering after a crash); bounded by StartTimeout.
            }
            catch (Exception e) when (e is NpgsqlException or SocketException or IOException)
            {
                throw new StorageException($"PostgreSQL did not accept a login on {options.Address}:{Port} within {options.StartTimeout.TotalSeconds} s ({e.Message}): {Tail()}", e);
            }

            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }

    private void Remember(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (lastLines)
        {
            lastLines.Enqueue(line);
            if (lastLines.Count > 5)
            {
                lastLines.Dequeue();
            }
        }
    }

    private string Tail()
    {
        lock (lastLines)
        {
            return lastLines.Count == 0 ? "it printed nothing" : string.Join(" | ", lastLines);
        }
    }

    private ProcessStartInfo AsServer(string program, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo("setpriv") { UseShellExecute = false, WorkingDirectory = Directory };
        foreach (var a in new[] { $"--reuid={options.RunAsUser}", $"--regid={options.RunAsUser}", "--init-groups", "--", program }.Concat(args))
        {
            start.ArgumentList.Add(a);
        }

        return start;
    }

    private async Task RunAsync(string program, IEnumerable<string> args, CancellationToken cancellationToken, bool check = true)
    {
        var start = AsServer(program, args);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        using var p = Process.Start(start) ?? throw new StorageException("setpriv could not be started; it is part of util-linux.");
        var stdout = p.StandardOutput.ReadToEndAsync(cancellationToken);
        string stderr = await p.StandardError.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
        await stdout.ConfigureAwait(false);
        await p.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        if (check && p.ExitCode != 0)
        {
            throw new StorageException($"{Path.GetFileName(program)} failed with exit code {p.ExitCode} for the cluster in {DataDirectory}: {stderr.Trim()}");
        }
    }

    private async Task<(uint Uid, uint Gid)> AccountAsync(CancellationToken cancellationToken)
    {
        foreach (string line in await File.ReadAllLinesAsync("/etc/passwd", cancellationToken).ConfigureAwait(false))
        {
            var f = line.Split(':');
            if (f.Length >= 4 && f[0] == options.RunAsUser)
            {
                return (uint.Parse(f[2], CultureInfo.InvariantCulture), uint.Parse(f[3], CultureInfo.InvariantCulture));
            }
        }

        throw new StorageException($"The account {options.RunAsUser} does not exist; installing Debian's postgresql creates it, or set RunAsUser.");
    }

    private static int FreePort(string address)
    {
        var listener = new TcpListener(IPAddress.Parse(address), 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
