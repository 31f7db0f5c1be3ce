using System.Security.Cryptography.X509Certificates;

namespace Moat.Xmpp.Server;

/// <summary>One virtual host of the managed server and how it stores passwords ("SHA-1" or "SHA-256" SCRAM keys).</summary>
public sealed record ProsodyDomain(string Name, string PasswordHash = "SHA-1");

/// <summary>
/// Server-to-server links (XMPP federation, RFC 6120 §10.4) on <paramref name="Port"/> of the server's address. Peers
/// are found the usual way, by DNS (<c>_xmpp-server._tcp</c> SRV, then the domain's A record and this port), and
/// verified with dialback (XEP-0220). Without a certificate dialback trusts DNS: use it only between servers whose
/// resolver the operator controls, or give the server a certificate and set <paramref name="RequireEncryption"/>.
/// </summary>
public sealed record ProsodyFederation(int Port = 5269, bool RequireEncryption = false);

/// <summary>Settings for the managed Prosody; immutable, change with <c>with</c>.</summary>
public sealed record ProsodyOptions
{
    public static ProsodyOptions Default { get; } = new();

    public IReadOnlyList<ProsodyDomain> Domains { get; init; } = [new("moat.test")];

    /// <summary>Address the client port binds to; loopback unless the fabric must be reachable from other hosts.</summary>
    public string Address { get; init; } = "127.0.0.1";

    /// <summary>Client port; 0 picks a free one at start.</summary>
    public int Port { get; init; }

    /// <summary>Folder for the config, accounts and log; a fresh temporary folder when null (deleted on dispose).</summary>
    public string? DataDirectory { get; init; }

    /// <summary>Certificate with private key for STARTTLS; no TLS offered when null.</summary>
    public X509Certificate2? Certificate { get; init; }

    public bool RequireEncryption { get; init; }

    /// <summary>Let clients use SASL PLAIN without TLS (loopback benchmarks).</summary>
    public bool AllowPlainWithoutTls { get; init; }

    /// <summary>
    /// Keep Prosody's default of Nagle's algorithm on its sockets. Off (`network_settings = { nagle = false }`), each
    /// stanza leaves at once: request/answer exchanges stop waiting on delayed ACKs (relocation over the fabric: downtime
    /// p50 237 → 153 ms), but job dispatch, many small stanzas to each worker, measured about 30 % slower here
    /// (docs/benchmarks/xmpp.md, 2026-12-03). On by default.
    /// </summary>
    public bool Nagle { get; init; } = true;

    /// <summary>Enable XEP-0198 (mod_smacks).</summary>
    public bool StreamManagement { get; init; } = true;

    /// <summary>PBKDF2 iterations for provisioned accounts; 4096 is RFC 7677's minimum and keeps mass logins cheap.</summary>
    public int Iterations { get; init; } = 4096;

    public string ProsodyExecutable { get; init; } = "/usr/bin/prosody";

    public string RunAsUser { get; init; } = "prosody";

    /// <summary>Open-file limit for the server process: one descriptor per connected client.</summary>
    public int FileLimit { get; init; } = 20000;

    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Server-to-server links; null (the default) keeps the server alone, with s2s disabled.</summary>
    public ProsodyFederation? Federation { get; init; }

    /// <summary>
    /// Named network namespace to run the server in (<c>ip netns exec</c>, which also binds
    /// <c>/etc/netns/NAME/resolv.conf</c> over the server's <c>/etc/resolv.conf</c>); null runs it in the caller's.
    /// The client port must then be given (<see cref="Port"/> 0 cannot be probed from outside the namespace).
    /// </summary>
    public string? NetworkNamespace { get; init; }
}
