using System.Net;
using Moat.Xmpp.Client;

namespace Moat.Host.Fabric;

/// <summary>How a host agent joins the XMPP fabric: its account, the server it dials, and who may drive its sandboxes.</summary>
public sealed record FabricOptions
{
    /// <summary>The host's bare JID, e.g. host1@moat.test.</summary>
    public string Jid { get; init; } = string.Empty;

    /// <summary>Server to dial, host:port.</summary>
    public string Server { get; init; } = "127.0.0.1:5222";

    /// <summary>File holding the account's password (one line); kept out of command lines and process listings.</summary>
    public string PasswordFile { get; init; } = string.Empty;

    /// <summary>Bare JIDs allowed to ask for sandbox operations on sandboxes of their own (the ones handed to them);
    /// everyone else gets 'forbidden'.</summary>
    public IReadOnlyList<string> Allow { get; init; } = [];

    /// <summary>Bare JIDs that may act on every sandbox of the host (list, inspect, exec, destroy), whoever owns it.</summary>
    public IReadOnlyList<string> Admins { get; init; } = [];

    /// <summary>Resource the agent binds; control planes address requests to JID/resource.</summary>
    public string Resource { get; init; } = FabricProtocol.DefaultResource;

    /// <summary>How often the agent re-reads its status and re-publishes it when it changed.</summary>
    public TimeSpan StatusInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>STARTTLS policy; null = if offered on loopback, required anywhere else.</summary>
    public TlsMode? Tls { get; init; }

    public void Validate()
    {
        Jid parsed;
        try
        {
            parsed = Moat.Xmpp.Client.Jid.Parse(Jid);
        }
        catch (FormatException)
        {
            throw new InvalidRequestException($"--xmpp '{Jid}' is not a JID: give the host's account as user@domain.");
        }

        if (parsed.Local is null)
        {
            throw new InvalidRequestException($"--xmpp '{Jid}' is not an account JID: give user@domain.");
        }

        _ = ParseServer(Server);
        if (!File.Exists(PasswordFile))
        {
            throw new InvalidRequestException($"--xmpp-password-file '{PasswordFile}' does not exist: give the file holding the host account's password.");
        }

        foreach (var (a, option) in Allow.Select(a => (a, "--xmpp-allow")).Concat(Admins.Select(a => (a, "--xmpp-admin"))))
        {
            if (!TryBare(a, out _))
            {
                throw new InvalidRequestException($"{option} '{a}' is not a bare JID: give user@domain.");
            }
        }
    }

    /// <summary>Client settings for this host's connection (reads the password file).</summary>
    public XmppClientOptions ToClientOptions()
    {
        var (host, port) = ParseServer(Server);
        return ClientOptions(Jid, host, port, ReadPassword(PasswordFile), Tls) with { Resource = Resource, SendInitialPresence = false };
    }

    /// <summary>Settings for any fabric account (host or control plane) dialing host:port.</summary>
    public static XmppClientOptions ClientOptions(string jid, string host, int port, string password, TlsMode? tls = null) => XmppClientOptions.Default with
    {
        Jid = jid,
        Host = host,
        Port = port,
        Password = password,
        Tls = tls ?? (IsLoopback(host) ? TlsMode.IfOffered : TlsMode.Required),
    };

    public static (string Host, int Port) ParseServer(string server)
    {
        var colon = server.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(server[(colon + 1)..], out var port) || port is < 1 or > 65535)
        {
            throw new InvalidRequestException($"--xmpp-server '{server}' is not host:port (for example 127.0.0.1:5222).");
        }

        return (server[..colon].Trim('[', ']'), port);
    }

    public static string ReadPassword(string file)
    {
        try
        {
            return File.ReadAllText(file).TrimEnd('\r', '\n');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidRequestException($"cannot read the password file '{file}': {e.Message}", notFound: e is FileNotFoundException or DirectoryNotFoundException);
        }
    }

    internal bool Allows(string? from) =>
        from is not null && TryBare(from, out var bare) && Allow.Concat(Admins).Any(a => string.Equals(a, bare, StringComparison.OrdinalIgnoreCase));

    /// <summary>Whether this bare JID may act on sandboxes it does not own.</summary>
    internal bool IsAdmin(string bare) => Admins.Any(a => string.Equals(a, bare, StringComparison.OrdinalIgnoreCase));

    internal static bool TryBare(string jid, out string bare)
    {
        try
        {
            var j = Moat.Xmpp.Client.Jid.Parse(jid);
            bare = j.Bare.ToString();
            return j.Local is not null;
        }
        catch (FormatException)
        {
            bare = string.Empty;
            return false;
        }
    }

    private static bool IsLoopback(string host) =>
        host == "localhost" || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));
}
