using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Moat.Linux.Files;
using Moat.Xmpp.Sasl;

namespace Moat.Xmpp.Server;

/// <summary>The managed Prosody could not be found, configured or started.</summary>
public sealed class ProsodyException(string message) : XmppException(message);

/// <summary>A Prosody server that Moat configures, starts, provisions and stops (the embedded default fabric).</summary>
[SupportedOSPlatform("linux")]
public sealed class ProsodyServer : IAsyncDisposable
{
    private const UnixFileMode PrivateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode PrivateFolder = PrivateFile | UnixFileMode.UserExecute;

    private readonly ProsodyOptions options;
    private readonly bool ownsDirectory;
    private Process? process;

    private ProsodyServer(ProsodyOptions options, string directory, bool ownsDirectory, int port)
    {
        this.options = options;
        DataDirectory = directory;
        this.ownsDirectory = ownsDirectory;
        Port = port;
    }

    public string DataDirectory { get; }

    public int Port { get; }

    public string Address => options.Address;

    public string ConfigPath => Path.Combine(DataDirectory, "prosody.cfg.lua");

    public string LogPath => Path.Combine(DataDirectory, "prosody.log");

    /// <summary>The first configured domain.</summary>
    public string Domain => options.Domains[0].Name;

    public bool IsRunning => process is { HasExited: false };

    /// <summary>Writes the configuration and starts the server; returns once it accepts connections.</summary>
    public static async Task<ProsodyServer> StartAsync(ProsodyOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!File.Exists(options.ProsodyExecutable))
        {
            throw new ProsodyException($"Prosody is not installed at {options.ProsodyExecutable}; install it with 'apt-get install -y prosody' or set ProsodyExecutable.");
        }

        if (options.NetworkNamespace is not null && options.Port == 0)
        {
            throw new ProsodyException($"a server in network namespace '{options.NetworkNamespace}' needs a fixed client port: set Port (a free port cannot be picked from outside the namespace).");
        }

        bool owns = options.DataDirectory is null;
        string directory = options.DataDirectory ?? Directory.CreateTempSubdirectory("moat-prosody-").FullName;
        int port = options.Port != 0 ? options.Port : FreePort(options.Address);
        var server = new ProsodyServer(options, directory, owns, port);
        try
        {
            server.WriteConfiguration();
            await server.StartProcessAsync(cancellationToken).ConfigureAwait(false);
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Creates or replaces an account by writing Prosody's hashed credentials file directly: no prosodyctl process
    /// (about 0.3 s each) so ten thousand workers can be provisioned in seconds. Works while the server runs.
    /// </summary>
    public void AddAccount(string user, string password, string? domain = null)
    {
        var host = domain is null ? options.Domains[0] : options.Domains.FirstOrDefault(d => d.Name == domain)
            ?? throw new ArgumentException($"'{domain}' is not a domain of this server; valid: {string.Join(", ", options.Domains.Select(d => d.Name))}.", nameof(domain));
        WriteAccount(DataDirectory, host, user, password, options.Iterations);
    }

    /// <summary>Writes one account into a server data folder (the server may be running or stopped).</summary>
    public static void WriteAccount(string dataDirectory, ProsodyDomain domain, string user, string password, int iterations = 4096)
    {
        ArgumentException.ThrowIfNullOrEmpty(user);
        ArgumentNullException.ThrowIfNull(domain);
        if (user.Any(c => char.IsWhiteSpace(c) || c is '@' or '/' or '"' or '\'' or '&' or '<' or '>' or ':'))
        {
            throw new ArgumentException($"'{user}' is not a valid account name: use letters, digits, '.', '-' or '_'.", nameof(user));
        }

        string folder = Path.Combine(dataDirectory, "data", Encode(domain.Name), "accounts");
        if (!Directory.Exists(folder))
        {
            throw new ProsodyException($"{folder} does not exist; start the server once with this data folder and domain before adding accounts.");
        }

        string salt = Guid.NewGuid().ToString();
        var hash = domain.PasswordHash == "SHA-256" ? HashAlgorithmName.SHA256 : HashAlgorithmName.SHA1;
        var keys = ScramMechanism.DeriveKeys(hash, password, Encoding.UTF8.GetBytes(salt), iterations);
        string text = string.Create(CultureInfo.InvariantCulture,
            $"return {{\n\t[\"iteration_count\"] = {iterations};\n\t[\"salt\"] = \"{salt}\";\n\t[\"stored_key\"] = \"{Convert.ToHexStringLower(keys.StoredKey)}\";\n\t[\"server_key\"] = \"{Convert.ToHexStringLower(keys.ServerKey)}\";\n}};\n");
        string file = Path.Combine(folder, Encode(user.ToLowerInvariant()) + ".dat");
        // The SCRAM keys log in as the account: 0600 from the first byte, then given to the server's user (the owner
        // of the accounts folder), who alone must read them.
        var (uid, gid) = FileOwner.Of(folder);
        WritePrivate(file, text, uid, gid);
    }

    /// <summary>Writes a secret as a new 0600 file owned by <paramref name="uid"/> and renames it over <paramref name="path"/>.</summary>
    private static void WritePrivate(string path, string text, uint? uid = null, uint? gid = null)
    {
        string partial = path + ".tmp";
        File.Delete(partial);
        using (var stream = new FileStream(partial, new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = PrivateFile }))
        {
            stream.Write(Encoding.UTF8.GetBytes(text));
        }

        if (uid is { } u)
        {
            FileOwner.Set(partial, u, gid ?? u);
        }

        File.Move(partial, path, overwrite: true);
    }

    /// <summary>
    /// Closes the data folder to everyone but its owner (the server's user): folders 0700, files without group or other
    /// bits, including what an older version left world-readable. Contents untouched.
    /// </summary>
    private static void LockDown(string directory)
    {
        File.SetUnixFileMode(directory, PrivateFolder);
        foreach (var entry in new DirectoryInfo(directory).EnumerateFileSystemInfos("*", SearchOption.AllDirectories))
        {
            if (entry.LinkTarget is null)
            {
                entry.UnixFileMode = entry is DirectoryInfo ? PrivateFolder : entry.UnixFileMode & PrivateFolder;
            }
        }
    }

    /// <summary>Stops the server (SIGTERM, then SIGKILL after 5 s) keeping its data.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        var p = process;
        if (p is null)
        {
            return;
        }

        if (!p.HasExited)
        {
            using (var kill = Process.Start("kill", ["-TERM", p.Id.ToString(CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            }

            using var grace = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            grace.CancelAfter(TimeSpan.FromSeconds(5));
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

    /// <summary>Stops and starts the server on the same port with the same accounts (fault drills).</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        await StopAsync(cancellationToken).ConfigureAwait(false);
        await StartProcessAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Waits until the server exits (foreground mode of 'moat xmpp serve').</summary>
    public Task WaitForExitAsync(CancellationToken cancellationToken = default) =>
        process?.WaitForExitAsync(cancellationToken) ?? Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        if (ownsDirectory && Directory.Exists(DataDirectory))
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
    }

    private void WriteConfiguration()
    {
        string dataPath = Path.Combine(DataDirectory, "data");
        var config = new StringBuilder();
        config.AppendLine("-- generated by Moat; edits are overwritten at the next start");
        config.AppendLine(CultureInfo.InvariantCulture, $"pidfile = \"{DataDirectory}/prosody.pid\"");
        config.AppendLine(CultureInfo.InvariantCulture, $"data_path = \"{dataPath}\"");
        config.AppendLine("daemonize = false");
        // mod_posix's umask (Debian's default 027): what Prosody itself writes (accounts, rosters, its log) is 0600.
        config.AppendLine("umask = \"077\"");
        config.AppendLine(CultureInfo.InvariantCulture, $"interfaces = {{ \"{options.Address}\" }}");
        config.AppendLine(CultureInfo.InvariantCulture, $"c2s_interfaces = {{ \"{options.Address}\" }}");
        config.AppendLine(CultureInfo.InvariantCulture, $"c2s_ports = {{ {Port} }}");
        var federation = options.Federation;
        config.AppendLine(federation is null
            ? "s2s_ports = { }"
            : string.Create(CultureInfo.InvariantCulture, $"s2s_ports = {{ {federation.Port} }}\ns2s_interfaces = {{ \"{options.Address}\" }}"));
        config.AppendLine("http_ports = { }\nhttps_ports = { }\nc2s_direct_tls_ports = { }\nadmins = { }");
        // No mod_limits: Debian's default would cap every client at 10 kB/s and throttle dispatch.
        config.Append("modules_enabled = { \"roster\", \"saslauth\", \"disco\", \"ping\", \"posix\", \"presence\"");
        config.Append(options.Certificate is null ? string.Empty : ", \"tls\"");
        config.Append(federation is null ? string.Empty : ", \"dialback\"");
        config.AppendLine(options.StreamManagement ? ", \"smacks\" }" : " }");
        config.AppendLine(federation is null ? "modules_disabled = { \"s2s\", \"offline\" }" : "modules_disabled = { \"offline\" }");
        if (federation is not null)
        {
            // Dialback (XEP-0220) verifies a peer by calling back the address DNS gives for its domain; certificates are
            // checked when the peer offers TLS, but not required unless asked.
            config.AppendLine(CultureInfo.InvariantCulture, $"s2s_require_encryption = {(federation.RequireEncryption ? "true" : "false")}");
            config.AppendLine(CultureInfo.InvariantCulture, $"s2s_secure_auth = {(federation.RequireEncryption ? "true" : "false")}");
        }
        config.AppendLine("authentication = \"internal_hashed\"\nstorage = \"internal\"\nnetwork_backend = \"epoll\"");
        if (!options.Nagle)
        {
            // With Nagle's algorithm (Prosody's default) a stanza forwarded right after another one waits for the peer's
            // delayed ACK (up to 40 ms), which request/answer exchanges pay; off, many small stanzas cost more packets.
            config.AppendLine("network_settings = { nagle = false }");
        }
        config.AppendLine(CultureInfo.InvariantCulture, $"c2s_require_encryption = {(options.RequireEncryption ? "true" : "false")}");
        config.AppendLine(CultureInfo.InvariantCulture, $"allow_unencrypted_plain_auth = {(options.AllowPlainWithoutTls ? "true" : "false")}");
        config.AppendLine("c2s_stanza_size_limit = 1048576\nsmacks_hibernation_time = 0");
        config.AppendLine(CultureInfo.InvariantCulture, $"log = {{ info = \"{LogPath}\" }}");
        if (options.Certificate is not null)
        {
            WritePrivate(Path.Combine(DataDirectory, "server.crt"), options.Certificate.ExportCertificatePem());
            using var key = options.Certificate.GetRSAPrivateKey() as AsymmetricAlgorithm ?? options.Certificate.GetECDsaPrivateKey()
                ?? throw new ProsodyException("the TLS certificate has no RSA or ECDSA private key; Prosody needs the key to offer STARTTLS.");
            WritePrivate(Path.Combine(DataDirectory, "server.key"), key.ExportPkcs8PrivateKeyPem());
            config.AppendLine(CultureInfo.InvariantCulture, $"ssl = {{ certificate = \"{DataDirectory}/server.crt\", key = \"{DataDirectory}/server.key\" }}");
        }

        foreach (var domain in options.Domains)
        {
            config.AppendLine(CultureInfo.InvariantCulture, $"VirtualHost \"{domain.Name}\"\n\tpassword_hash = \"{domain.PasswordHash}\"");
            foreach (var store in new[] { "accounts", "roster" })
            {
                Directory.CreateDirectory(Path.Combine(dataPath, Encode(domain.Name), store));
            }
        }

        WritePrivate(ConfigPath, config.ToString());
        RunChecked("chown", ["-R", $"{options.RunAsUser}:{options.RunAsUser}", DataDirectory]);
        LockDown(DataDirectory);
    }

    private async Task StartProcessAsync(CancellationToken cancellationToken)
    {
        // 'ip netns exec' enters the namespace and execs the rest in place, so the process is still the server's.
        string[] inNamespace = options.NetworkNamespace is { } ns ? ["netns", "exec", ns, "setpriv"] : [];
        var start = new ProcessStartInfo(inNamespace.Length > 0 ? "ip" : "setpriv")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in inNamespace)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var arg in new[] { $"--reuid={options.RunAsUser}", $"--regid={options.RunAsUser}", "--init-groups", "--",
                     "sh", "-c", $"ulimit -n {options.FileLimit} && exec \"$0\" --config \"$1\"", options.ProsodyExecutable, ConfigPath })
        {
            start.ArgumentList.Add(arg);
        }

        var p = Process.Start(start) ?? throw new ProsodyException("setpriv could not be started; it is part of util-linux.");
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        process = p;

        var deadline = DateTime.UtcNow + options.StartTimeout;
        while (true)
        {
            if (p.HasExited)
            {
                throw new ProsodyException($"Prosody exited with code {p.ExitCode} while starting; see {LogPath}: {Tail(LogPath)}");
            }

            using var probe = new TcpClient();
            try
            {
                await probe.ConnectAsync(options.Address, Port, cancellationToken).ConfigureAwait(false);
                // Prosody opens its ports before it writes its pid file; started means both, so a caller can read the pid.
                if (File.Exists(Path.Combine(DataDirectory, "prosody.pid")))
                {
                    return;
                }

                if (DateTime.UtcNow >= deadline)
                {
                    throw new ProsodyException($"Prosody listens on {options.Address}:{Port} but wrote no pid file within {options.StartTimeout.TotalSeconds} s; see {LogPath}.");
                }
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                // Not listening yet: the poll below is bounded by StartTimeout.
            }
            catch (SocketException e)
            {
                throw new ProsodyException($"Prosody did not accept connections on {options.Address}:{Port} within {options.StartTimeout.TotalSeconds} s ({e.Message}); see {LogPath}.");
            }

            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }
    }

    private static string Tail(string path) =>
        File.Exists(path) ? string.Join(" | ", File.ReadLines(path).TakeLast(3)) : "no log written";

    private static void RunChecked(string file, string[] args)
    {
        using var p = Process.Start(file, args);
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new ProsodyException($"'{file} {string.Join(' ', args)}' failed with exit code {p.ExitCode}.");
        }
    }

    private static int FreePort(string address)
    {
        var listener = new TcpListener(IPAddress.Parse(address), 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>Prosody's datamanager file-name encoding: every non-alphanumeric byte becomes %xx.</summary>
    internal static string Encode(string name)
    {
        var builder = new StringBuilder();
        foreach (byte b in Encoding.UTF8.GetBytes(name))
        {
            if (b is (>= (byte)'a' and <= (byte)'z') or (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'0' and <= (byte)'9'))
            {
                builder.Append((char)b);
            }
            else
            {
                builder.Append(CultureInfo.InvariantCulture, $"%{b:x2}");
            }
        }

        return builder.ToString();
    }
}
