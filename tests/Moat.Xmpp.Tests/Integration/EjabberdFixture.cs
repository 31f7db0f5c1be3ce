using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Moat.Xmpp.Client;

namespace Moat.Xmpp.Tests.Integration;

/// <summary>
/// One real ejabberd for the client's tests: its own configuration, Mnesia spool, logs and Erlang node name in a
/// temporary folder owned by user ejabberd (ejabberdctl drops to that user), c2s and an HTTP admin API on free loopback
/// ports, Erlang distribution and epmd bound to loopback. ej.test stores SCRAM-SHA-1 keys, sha256.test SCRAM-SHA-256.
/// Nothing of the Debian service (its config, spool, node name, ports) is used, so the two never collide.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class EjabberdFixture : IAsyncLifetime
{
    public const string Password = "ej-s3cret";
    private const string Ctl = "/usr/sbin/ejabberdctl";
    private readonly string tag = Guid.NewGuid().ToString("N")[..8];
    private readonly HttpClient http = new() { Timeout = TimeSpan.FromSeconds(30) };
    private Process? process;
    private int counter;

    public string Directory { get; } = Path.Combine(Path.GetTempPath(), "moat-ejabberd-" + Guid.NewGuid().ToString("N")[..8]);

    public int Port { get; private set; }

    public int ApiPort { get; private set; }

    public string Node => $"moat{tag}@localhost";

    public X509Certificate2 Certificate { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        if (!File.Exists(Ctl))
        {
            throw new InvalidOperationException("ejabberd is not installed; run scripts/setup (apt-get install -y ejabberd).");
        }

        Port = FreePort();
        ApiPort = FreePort();
        System.IO.Directory.CreateDirectory(Path.Combine(Directory, "spool"));
        System.IO.Directory.CreateDirectory(Path.Combine(Directory, "logs"));
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=ej.test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("ej.test");
        san.AddDnsName("sha256.test");
        request.CertificateExtensions.Add(san.Build());
        Certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        await File.WriteAllTextAsync(Path.Combine(Directory, "cert.pem"), Certificate.ExportCertificatePem() + "\n" + key.ExportPkcs8PrivateKeyPem() + "\n");
        await File.WriteAllTextAsync(Path.Combine(Directory, "ejabberd.yml"), $$"""
            hosts:
              - ej.test
              - sha256.test
            loglevel: warning
            certfiles:
              - "{{Directory}}/cert.pem"
            listen:
              -
                port: {{Port}}
                ip: "127.0.0.1"
                module: ejabberd_c2s
                max_stanza_size: 262144
                access: c2s
                starttls: true
              -
                port: {{ApiPort}}
                ip: "127.0.0.1"
                module: ejabberd_http
                request_handlers:
                  /api: mod_http_api
            api_permissions:
              "moat tests":
                from:
                  - ejabberd_ctl
                  - mod_http_api
                who:
                  ip: 127.0.0.1/8
                what: "*"
            auth_method: internal
            auth_password_format: scram
            host_config:
              sha256.test:
                auth_scram_hash: sha256
            acl:
              local:
                user_regexp: ""
            access_rules:
              c2s:
                allow: all
              local:
                allow: local
            modules:
              mod_roster: {}
              mod_ping: {}
              mod_stream_mgmt: {}
              mod_disco: {}
              mod_admin_extra: {}
            """);
        await File.WriteAllTextAsync(Path.Combine(Directory, "ejabberdctl.cfg"), """
            ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0"
            INET_DIST_INTERFACE=127.0.0.1
            ERL_EPMD_ADDRESS=127.0.0.1
            """);
        await RunAsync("chown", "-R", "ejabberd:ejabberd", Directory);

        var psi = new ProcessStartInfo(Ctl)
        {
            WorkingDirectory = Directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in CtlArguments("foreground"))
        {
            psi.ArgumentList.Add(a);
        }

        process = Process.Start(psi)!;
        var output = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        // Ready when the admin API answers 'status' (Mnesia and all listeners are up then); the VM takes ~10 s to boot.
        var deadline = DateTime.UtcNow.AddSeconds(180);
        string lastError = "no answer yet";
        while (true)
        {
            if (process.HasExited)
            {
                await DisposeAsync();
                throw new InvalidOperationException($"ejabberd exited with {process.ExitCode} while starting: {output}");
            }

            try
            {
                if ((await ApiAsync("status", new { })).Contains("started", StringComparison.Ordinal))
                {
                    break;
                }
            }
            catch (HttpRequestException e)
            {
                lastError = e.Message; // not listening yet
            }

            if (DateTime.UtcNow > deadline)
            {
                await DisposeAsync();
                throw new TimeoutException($"ejabberd did not start within 180 s (admin API: {lastError}): {output}");
            }

            await Task.Delay(200);
        }
    }

    /// <summary>Registers a fresh account through the admin API (ejabberd computes and stores its SCRAM keys).</summary>
    public async Task<string> NewAccountAsync(string domain = "ej.test")
    {
        string user = "e" + Interlocked.Increment(ref counter);
        var answer = await ApiAsync("register", new { user, host = domain, password = Password });
        if (!answer.Contains("registered", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"ejabberd did not register {user}@{domain}: {answer}");
        }

        return $"{user}@{domain}";
    }

    /// <summary>Has the server end a client's session (the server-side drop a reconnect must survive).</summary>
    public Task<string> KickAsync(Jid full) =>
        ApiAsync("kick_session", new { user = full.Local, host = full.Domain, resource = full.Resource, reason = "test" });

    public XmppClientOptions OptionsFor(string jid) => XmppClientOptions.Default with
    {
        Host = "127.0.0.1",
        Port = Port,
        Jid = jid,
        Password = Password,
        CertificateValidation = (_, cert, _, _) => cert is not null && cert.GetCertHashString() == Certificate.GetCertHashString(),
        IqTimeout = TimeSpan.FromSeconds(10),
    };

    public async Task DisposeAsync()
    {
        if (process is { HasExited: false })
        {
            try
            {
                await ApiAsync("stop", new { });
            }
            catch (HttpRequestException)
            {
                // Not answering: killed below.
            }

            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            try
            {
                await process.WaitForExitAsync(wait.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }

        process?.Dispose();
        http.Dispose();

        // epmd was started by this node's VM; stop it unless another Erlang node still uses it.
        var (_, names) = await RunAsync("epmd", "-names");
        if (!names.Contains("name ", StringComparison.Ordinal))
        {
            await RunAsync("epmd", "-kill");
        }

        if (System.IO.Directory.Exists(Directory))
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }

    private string[] CtlArguments(string command) =>
    [
        "--config", Path.Combine(Directory, "ejabberd.yml"), "--ctl-config", Path.Combine(Directory, "ejabberdctl.cfg"),
        "--logs", Path.Combine(Directory, "logs"), "--spool", Path.Combine(Directory, "spool"), "--node", Node, command,
    ];

    private async Task<string> ApiAsync(string command, object body)
    {
        // A sized body: ejabberd's HTTP listener does not take chunked requests (what JsonContent would send).
        using var content = new StringContent(System.Text.Json.JsonSerializer.Serialize(body), System.Text.Encoding.UTF8, "application/json");
        using var response = await http.PostAsync($"http://127.0.0.1:{ApiPort}/api/{command}", content);
        var text = await response.Content.ReadAsStringAsync();
        return response.IsSuccessStatusCode ? text : throw new HttpRequestException($"ejabberd API {command} answered {(int)response.StatusCode}: {text}");
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static async Task<(int Code, string Output)> RunAsync(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, await o + await e);
    }
}

[CollectionDefinition(Name)]
public sealed class EjabberdCollection : ICollectionFixture<EjabberdFixture>
{
    public const string Name = "ejabberd";
}
