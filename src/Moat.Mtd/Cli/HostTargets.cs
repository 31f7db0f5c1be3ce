using System.CommandLine;
using Moat.Host.Fabric;
using Moat.Mtd.Relocation;

namespace Moat.Mtd.Cli;

/// <summary>
/// The hosts a `moat mtd` command names: each is a local agent's state folder (driven through its socket) or a host's
/// JID on the XMPP fabric (driven by IQs, state moved as in-band bytestreams, for hosts on other machines or behind
/// NAT). Fabric hosts need the command's own fabric account, which each of them must list with `--xmpp-admin`.
/// </summary>
internal sealed class HostTargets : IAsyncDisposable
{
    private readonly List<IRelocationHost> _hosts;
    private readonly FabricClient? _fabric;

    private HostTargets(List<IRelocationHost> hosts, FabricClient? fabric)
    {
        _hosts = hosts;
        _fabric = fabric;
    }

    public IReadOnlyList<IRelocationHost> Hosts => _hosts;

    /// <summary>The options that give the command a fabric account.</summary>
    internal sealed class FabricAccount
    {
        public Option<string?> Jid { get; } = new("--xmpp")
        {
            Description = "Your fabric account (user@domain), for hosts named by JID; each such host must be run with --xmpp-admin naming it.",
        };

        public Option<string> Server { get; } = new("--xmpp-server") { Description = "XMPP server to dial, host:port.", DefaultValueFactory = _ => "127.0.0.1:5222" };

        public Option<string?> PasswordFile { get; } = new("--xmpp-password-file") { Description = "File holding your fabric account's password." };

        public void AddTo(Command command)
        {
            command.Options.Add(Jid);
            command.Options.Add(Server);
            command.Options.Add(PasswordFile);
        }
    }

    /// <summary>A JID names a fabric host; anything else, a state folder.</summary>
    public static bool IsJid(string spec) => spec.Contains('@', StringComparison.Ordinal) && !Directory.Exists(spec);

    /// <summary>
    /// Opens every host: checks each state folder has an agent, joins the fabric when a JID is named and checks each
    /// fabric host answers this account as an administrator. Throws <see cref="MtdException"/> with one sentence on bad
    /// input (exit 2).
    /// </summary>
    public static async Task<HostTargets> OpenAsync(IReadOnlyList<string> specs, FabricAccount account, ParseResult parse, CancellationToken cancellationToken)
    {
        var keys = specs.Select(s => IsJid(s) ? s.ToLowerInvariant() : Path.GetFullPath(s)).ToList();
        if (keys.Distinct(StringComparer.Ordinal).Count() != keys.Count)
        {
            throw new MtdException($"a host is named twice ({string.Join(", ", specs)}); name each host once.");
        }

        foreach (var dir in specs.Where(s => !IsJid(s)).Select(Path.GetFullPath).Where(d => !File.Exists(Path.Combine(d, "agent.sock"))))
        {
            throw new MtdException(ErrorKind.Unavailable, $"no host agent runs on {dir} (it has no agent.sock); start one with 'moat host --state-dir {dir}', or name a fabric host by its JID.");
        }

        FabricClient? fabric = null;
        var hosts = new List<IRelocationHost>();
        try
        {
            if (specs.Any(IsJid))
            {
                var jid = parse.GetValue(account.Jid);
                var passwordFile = parse.GetValue(account.PasswordFile);
                if (jid is null || passwordFile is null)
                {
                    throw new MtdException($"--xmpp and --xmpp-password-file are needed to reach {specs.First(IsJid)} over the fabric: give your account, which that host lists with --xmpp-admin.");
                }

                try
                {
                    fabric = await FabricClient.OpenAsync(jid, parse.GetValue(account.Server)!, FabricOptions.ReadPassword(passwordFile),
                        "mtd-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3)), cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is Xmpp.XmppException or Host.MoatHostException or FormatException or IOException or System.Net.Sockets.SocketException)
                {
                    throw new MtdException($"--xmpp {jid}: could not join the fabric: {e.Message}", e);
                }
            }

            foreach (var spec in specs)
            {
                if (IsJid(spec))
                {
                    var host = new FabricRelocationHost(fabric!, spec);
                    hosts.Add(host);
                    try
                    {
                        using var answer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                        answer.CancelAfter(TimeSpan.FromSeconds(15));
                        await host.StatusAsync(answer.Token).ConfigureAwait(false);
                    }
                    catch (RelocationHostException e) when (e.InnerException is FabricCallException { Condition: "forbidden" })
                    {
                        throw new MtdException($"{spec} does not let {parse.GetValue(account.Jid)} move its sandboxes: run it with --xmpp-admin {parse.GetValue(account.Jid)}.", e);
                    }
                    catch (Exception e) when (e is RelocationHostException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
                    {
                        throw new MtdException($"{spec} does not answer on the fabric ({e.Message}); is its agent running with --xmpp {spec}?", e);
                    }
                }
                else
                {
                    var dir = Path.GetFullPath(spec);
                    hosts.Add(new AgentRelocationHost(dir, Path.Combine(dir, "agent.sock")));
                }
            }

            return new HostTargets(hosts, fabric);
        }
        catch
        {
            await new HostTargets(hosts, fabric).DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var h in _hosts.OfType<IDisposable>())
        {
            h.Dispose();
        }

        if (_fabric is not null)
        {
            await _fabric.DisposeAsync().ConfigureAwait(false);
        }
    }
}
