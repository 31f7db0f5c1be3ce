using Microsoft.Extensions.Logging.Abstractions;
using Moat.Host.Fabric;
using Moat.Host.Pool;
using Moat.Host.Sandboxes;
using Moat.Host.Tests.Integration;
using Moat.Xmpp.Client;
using Moat.Xmpp.Server;

namespace Moat.Host.Tests.Fabric;

/// <summary>
/// A real Prosody on loopback and a real host agent joined to it by a <see cref="FabricAgent"/>; accounts host, admin
/// (allow-listed) and mallory (not). Disposing stops everything, in reverse order, even after a failed test.
/// </summary>
internal sealed class FabricHarness : IAsyncDisposable
{
    public const string Password = "fabric-pw";
    private readonly string dir = Directory.CreateTempSubdirectory("moat-fabric-").FullName;
    private FabricAgent? agent;

    private FabricHarness(ProsodyServer server, AgentHarness host)
    {
        Server = server;
        Host = host;
    }

    public ProsodyServer Server { get; }

    public AgentHarness Host { get; }

    public string HostJid => "host@" + Server.Domain;

    public string AdminJid => "admin@" + Server.Domain;

    public string MalloryJid => "mallory@" + Server.Domain;

    /// <summary>Allowed, not an administrator: drives the sandboxes handed to it only.</summary>
    public string JobsJid => "jobs@" + Server.Domain;

    public FabricAgent Agent => agent!;

    private TimeProvider time = TimeProvider.System;

    /// <param name="policy">The agent's containment policy, made from the server's domain (JIDs are user@domain); null: none.</param>
    /// <param name="time">The agent's clock; null: the system's.</param>
    public static async Task<FabricHarness> StartAsync(IReadOnlyDictionary<string, int>? warm = null, string pool = "198.19.2.0/24", Func<string, string>? policy = null,
        TimeProvider? time = null)
    {
        var server = await ProsodyServer.StartAsync(ProsodyOptions.Default);
        AgentHarness? host = null;
        try
        {
            foreach (var user in new[] { "host", "admin", "mallory", "jobs", "worker" })
            {
                server.AddAccount(user, Password);
            }

            // Remote clients are untrusted unless named: the harness's control planes are named trusted, as an
            // administrator does with --client-trust, so that their sandboxes use the container pool.
            var named = new TierOptions
            {
                ClientTrust = new Dictionary<string, string> { ["admin@" + server.Domain] = TierOptions.Trusted, ["jobs@" + server.Domain] = TierOptions.Trusted },
            };
            host = await AgentHarness.StartAsync(pool, warm, tiers: named, policy: policy?.Invoke(server.Domain));
            var h = new FabricHarness(server, host) { time = time ?? TimeProvider.System };
            await h.StartAgentAsync();
            return h;
        }
        catch
        {
            if (host is not null)
            {
                await host.DisposeAsync();
            }

            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>The agent's fabric seat, as `moat host --xmpp host@… --xmpp-allow jobs@… --xmpp-admin admin@…` makes it.</summary>
    public async Task StartAgentAsync()
    {
        var passwordFile = Path.Combine(dir, "host.password");
        await File.WriteAllTextAsync(passwordFile, Password + "\n");
        var options = new FabricOptions
        {
            Jid = HostJid,
            Server = $"{Server.Address}:{Server.Port}",
            PasswordFile = passwordFile,
            Allow = ["jobs@" + Server.Domain],
            Admins = [AdminJid],
            StatusInterval = TimeSpan.FromMilliseconds(200),
        };
        options.Validate();
        agent = new FabricAgent(options, Host.Service<SandboxService>(), Host.Service<WarmPool>(), time, NullLogger<FabricAgent>.Instance,
            Host.Service<Moat.Host.Agent.HostStatusReporter>(), metrics: Host.Service<Moat.Host.Metrics.AgentMetrics>());
        await agent.StartAsync(CancellationToken.None);
    }

    public XmppClientOptions Xmpp(string jid, string resource) =>
        FabricOptions.ClientOptions(jid, Server.Address, Server.Port, Password) with
        {
            Resource = resource,
            ReconnectMinDelay = TimeSpan.FromMilliseconds(50),
            ReconnectMaxDelay = TimeSpan.FromSeconds(1),
        };

    /// <summary>A control-plane client that already sees the host's presence.</summary>
    public async Task<FabricClient> ControlAsync(string jid)
    {
        var c = new FabricClient(Xmpp(jid, "cp-" + Guid.NewGuid().ToString("N")[..6]));
        try
        {
            await c.ConnectAsync();
            return c;
        }
        catch
        {
            await c.DisposeAsync();
            throw;
        }
    }

    public static async Task WaitForAsync(Func<bool> condition, string what, double seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"timed out waiting until {what}");
            }

            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (agent is not null)
        {
            await agent.StopAsync(CancellationToken.None);
            agent.Dispose();
        }

        await Host.DisposeAsync();
        await Server.DisposeAsync();
        Directory.Delete(dir, recursive: true);
    }
}
