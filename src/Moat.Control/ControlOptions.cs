using System.Net;

namespace Moat.Control;

/// <summary>How `moat control` runs: where it listens, where it keeps its state, how it joins the fabric, its limits.</summary>
public sealed record ControlOptions
{
    /// <summary>ADDR:PORT to listen on; plain HTTP only on a loopback address, TLS anywhere else.</summary>
    public string Listen { get; init; } = "127.0.0.1:7443";

    /// <summary>Folder (made 0700) holding the store and the administrator key.</summary>
    public string StateDir { get; init; } = "/var/lib/moat-control";

    public string? TlsCert { get; init; }

    public string? TlsKey { get; init; }

    /// <summary>The control plane's account on the fabric (user@domain); null: no fabric (no hosts can be driven).</summary>
    public string? Jid { get; init; }

    public string XmppServer { get; init; } = "127.0.0.1:5222";

    public string? XmppPasswordFile { get; init; }

    /// <summary>Resource of this control plane's session (several replicas of one account each take their own).</summary>
    public string Resource { get; init; } = "control";

    /// <summary>Host agents (bare JIDs) whose presence this control plane follows; each names it with --xmpp-admin.</summary>
    public IReadOnlyList<string> Hosts { get; init; } = [];

    /// <summary>Requests one key may make per second (a token bucket of this size, refilled each second).</summary>
    public int RequestsPerSecondPerKey { get; init; } = 200;

    /// <summary>Requests with a missing or wrong key one remote address may make per minute before it is refused with 429.</summary>
    public int FailedAuthPerMinute { get; init; } = 20;

    /// <summary>Largest request body taken.</summary>
    public long MaxBodyBytes { get; init; } = 64 * 1024;

    public string StorePath => Path.Combine(StateDir, "control.db");

    public string AdminKeyPath => Path.Combine(StateDir, "admin.key");

    /// <summary>The listen address as an endpoint; throws one sentence when it is not ADDR:PORT.</summary>
    public IPEndPoint Endpoint()
    {
        if (!IPEndPoint.TryParse(Listen, out var endpoint) || endpoint.Port == 0 || !Listen.Contains(':', StringComparison.Ordinal))
        {
            throw new ControlInputException($"--listen '{Listen}' is not ADDR:PORT with a port from 1 to 65535 (for example 127.0.0.1:7443).");
        }

        return endpoint;
    }

    public bool UsesTls => TlsCert is not null || TlsKey is not null;

    public void Validate()
    {
        var endpoint = Endpoint();
        if (!UsesTls && !IPAddress.IsLoopback(endpoint.Address))
        {
            throw new ControlInputException(
                $"--listen {Listen} is not a loopback address, and plain HTTP would carry API keys in the clear: give --tls-cert and --tls-key, or listen on 127.0.0.1.");
        }

        if (UsesTls && (TlsCert is null || TlsKey is null))
        {
            throw new ControlInputException("TLS needs both --tls-cert FILE and --tls-key FILE (PEM).");
        }

        foreach (var (file, option) in new[] { (TlsCert, "--tls-cert"), (TlsKey, "--tls-key") })
        {
            if (file is not null && !File.Exists(file))
            {
                throw new ControlInputException($"{option} '{file}' does not exist: give a PEM file.");
            }
        }

        if (Jid is not null)
        {
            if (XmppPasswordFile is null || !File.Exists(XmppPasswordFile))
            {
                throw new ControlInputException($"--xmpp-password-file '{XmppPasswordFile}' does not exist: give the file holding {Jid}'s password.");
            }

            _ = Moat.Host.Fabric.FabricOptions.ParseServer(XmppServer);
        }

        if (RequestsPerSecondPerKey < 1 || FailedAuthPerMinute < 1 || MaxBodyBytes < 1024)
        {
            throw new ControlInputException("rate limits must be at least 1 per period and the body limit at least 1024 bytes.");
        }
    }
}
