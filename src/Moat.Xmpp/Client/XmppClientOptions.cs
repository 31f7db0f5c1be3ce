using System.Net.Security;

namespace Moat.Xmpp.Client;

/// <summary>When the client uses STARTTLS.</summary>
public enum TlsMode
{
    /// <summary>Refuse to authenticate unless the stream is encrypted.</summary>
    Required,

    /// <summary>Use TLS when the server offers it.</summary>
    IfOffered,

    /// <summary>Never start TLS (loopback benchmarks only).</summary>
    Disabled,
}

/// <summary>Settings for one <see cref="XmppClient"/>; immutable, change with <c>with</c>.</summary>
public sealed record XmppClientOptions
{
    public static XmppClientOptions Default { get; } = new();

    /// <summary>Host name or address to dial; the JID's domain when null.</summary>
    public string? Host { get; init; }

    public int Port { get; init; } = 5222;

    /// <summary>Bare JID of the account, e.g. worker1@moat.test.</summary>
    public string Jid { get; init; } = string.Empty;

    public string Password { get; init; } = string.Empty;

    /// <summary>Resource to bind; the server picks one when null.</summary>
    public string? Resource { get; init; }

    public TlsMode Tls { get; init; } = TlsMode.Required;

    /// <summary>Validates the server certificate; the system trust store when null.</summary>
    public RemoteCertificateValidationCallback? CertificateValidation { get; init; }

    /// <summary>Allow SASL PLAIN on an unencrypted stream (loopback only; never the default).</summary>
    public bool AllowPlainWithoutTls { get; init; }

    /// <summary>Mechanisms in order of preference; the first one the server offers is used.</summary>
    public IReadOnlyList<string> Mechanisms { get; init; } = ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"];

    public int MaxStanzaBytes { get; init; } = 1 << 20;

    public int MaxDepth { get; init; } = 32;

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan IqTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Send an available presence right after binding.</summary>
    public bool SendInitialPresence { get; init; } = true;

    /// <summary>Reconnect after the connection is lost, with exponential backoff between the two delays below.</summary>
    public bool Reconnect { get; init; } = true;

    public TimeSpan ReconnectMinDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Give up after this many failed attempts in a row; 0 retries for ever (delays stay bounded).</summary>
    public int MaxReconnectAttempts { get; init; }

    /// <summary>Enable XEP-0198 stream management when the server offers it.</summary>
    public bool StreamManagement { get; init; } = true;

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Source of SCRAM nonces and backoff jitter; seed it in tests.</summary>
    public Random Random { get; init; } = Random.Shared;
}
