using System.Diagnostics;
using System.Globalization;
using System.Runtime.Versioning;
using Moat.Jobs.Manager;
using Moat.Jobs.Store;
using Moat.Jobs.Worker;
using Moat.Xmpp.Client;
using Moat.Xmpp.Server;

namespace Moat.Jobs.Tests.Integration;

/// <summary>
/// Kestrel's fabric across two XMPP servers (issue 18): a manager on one Prosody, workers on another, joined by
/// server-to-server links the servers find through DNS, each server in its own network namespace.
/// </summary>
[Trait("Category", "Integration")]
[SupportedOSPlatform("linux")]
public sealed class FederationTests : IAsyncLifetime
{
    private const string Password = "pw-federation";
    private readonly FederatedWorld world = new();
    private readonly string storePath = Path.Combine(Path.GetTempPath(), $"moat-federation-{Guid.NewGuid():N}.db");

    public Task InitializeAsync() => world.StartAsync();

    public async Task DisposeAsync()
    {
        await world.DisposeAsync();
        foreach (var f in new[] { storePath, storePath + "-wal", storePath + "-shm" })
        {
            File.Delete(f);
        }
    }

    [Fact]
    public async Task A_manager_on_one_server_runs_a_job_on_workers_of_another_and_requeues_their_tasks_when_that_server_is_lost()
    {
        string managerJid = world.A.Account("mgr", Password);
        string[] remote = [.. Enumerable.Range(0, 3).Select(i => world.B.Account($"w{i}", Password))];
        string local = world.A.Account("w9", Password);

        await using var store = await SqliteJobStore.OpenAsync(storePath);
        await using var manager = new JobManager(new JobManagerOptions
        {
            Xmpp = world.A.Client(managerJid, "manager", Password),
            ManagerId = "federation",
            AnswerGrace = TimeSpan.FromSeconds(2),
            WorkerAllow = [.. remote, local],
        }, store);
        await manager.StartAsync();

        var workers = new List<JobWorker>();
        try
        {
            foreach (string jid in remote)
            {
                // Directed presence (fleet mode) crosses the s2s link; no roster subscription is needed.
                var w = new JobWorker(new JobWorkerOptions
                {
                    Xmpp = world.B.Client(jid, "w", Password) with { Reconnect = false },
                    Managers = [managerJid],
                    Slots = 2,
                    SubscribeToManagers = false,
                });
                workers.Add(w);
                await w.StartAsync();
            }

            // 1. A job completes on the other server's workers, each task once.
            long first = await store.AddJobAsync(new JobSpec { Owner = "owner@a", Command = "/bin/sh", Arguments = ["-c", "echo {task}"], Tasks = 30 });
            manager.Wake();
            await WaitForAsync(async () => (await store.GetStatusAsync(first))!.Done == 30, "the first job is done over the s2s link");
            var logs = await store.GetLogsAsync(first, null);
            Assert.Equal(Enumerable.Range(0, 30), logs.Select(l => int.Parse(l.Output!.Trim(), CultureInfo.InvariantCulture)).Order());
            Assert.All(logs, l => Assert.EndsWith("@" + FederatedWorld.DomainB + "/w", l.Worker, StringComparison.Ordinal));

            // 2. Server B is lost (killed, no goodbye) while its workers hold tasks: they are requeued and finish elsewhere.
            long second = await store.AddJobAsync(new JobSpec
            {
                Owner = "owner@a", Command = "/bin/sh", Arguments = ["-c", "sleep 2; echo {task}"], Tasks = 6, Timeout = TimeSpan.FromSeconds(4),
            });
            manager.Wake();
            await WaitForAsync(async () => (await store.GetStatusAsync(second))!.Dispatched >= 3, "workers on B hold tasks of the second job");
            world.B.Kill();

            var rescuer = new JobWorker(new JobWorkerOptions
            {
                Xmpp = world.A.Client(local, "w", Password) with { Reconnect = false },
                Managers = [managerJid],
                Slots = 6,
                SubscribeToManagers = false,
            });
            workers.Add(rescuer);
            await rescuer.StartAsync();

            await WaitForAsync(async () => (await store.GetStatusAsync(second))!.Done == 6, "the second job is done after B was lost");
            var after = await store.GetLogsAsync(second, null);
            Assert.Equal(Enumerable.Range(0, 6), after.Select(l => int.Parse(l.Output!.Trim(), CultureInfo.InvariantCulture)).Order());
            Assert.Equal(6, await store.CountResultsAsync(second));

            // Every task the lost server's workers held was finished on server A: B's workers could not answer.
            Assert.All(after, l => Assert.Equal(local + "/w", l.Worker));
        }
        finally
        {
            foreach (var w in workers)
            {
                await w.DisposeAsync();
            }
        }
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting until {what}");
            await Task.Delay(20);
        }
    }
}

/// <summary>
/// Two network namespaces on a test bridge (198.19.246.0/24), a dnsmasq on the bridge that names both servers, and a
/// Prosody with s2s in each namespace. Everything is removed on dispose, also after a failure.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class FederatedWorld : IAsyncDisposable
{
    public const string DomainA = "a.kestrel.test";
    public const string DomainB = "b.kestrel.test";
    private const string Bridge = "198.19.246.1";
    private readonly string tag = Guid.NewGuid().ToString("N")[..6];
    private readonly List<Func<Task>> undo = [];
    private Process? dnsmasq;

    public Server A { get; private set; } = null!;

    public Server B { get; private set; } = null!;

    private string BridgeName => $"mkf{tag}";

    public async Task StartAsync()
    {
        Ip("link", "add", BridgeName, "type", "bridge");
        undo.Add(() => Task.Run(() => Ip("link", "del", BridgeName)));
        Ip("addr", "add", Bridge + "/24", "dev", BridgeName);
        Ip("link", "set", BridgeName, "up");
        StartDnsmasq();
        A = await StartServerAsync("a", DomainA, "198.19.246.2");
        B = await StartServerAsync("b", DomainB, "198.19.246.3");
    }

    public async ValueTask DisposeAsync()
    {
        for (int i = undo.Count - 1; i >= 0; i--)
        {
            try
            {
                await undo[i]();
            }
            catch (Exception e) when (e is InvalidOperationException or IOException or ProsodyException)
            {
                // Best effort: the rest is still removed.
            }
        }
    }

    private void StartDnsmasq()
    {
        var start = new ProcessStartInfo("dnsmasq") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string arg in new[]
                 {
                     "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
                     $"--listen-address={Bridge}", "--port=53", "--user=root", $"--pid-file=/run/moat-{BridgeName}.pid",
                     "--local=/kestrel.test/",
                     $"--host-record={DomainA},198.19.246.2", $"--host-record={DomainB},198.19.246.3",
                     $"--srv-host=_xmpp-server._tcp.{DomainA},{DomainA},5269", $"--srv-host=_xmpp-server._tcp.{DomainB},{DomainB},5269",
                 })
        {
            start.ArgumentList.Add(arg);
        }

        dnsmasq = Process.Start(start) ?? throw new InvalidOperationException("dnsmasq did not start; scripts/setup installs dnsmasq-base.");
        undo.Add(async () =>
        {
            dnsmasq.Kill();
            await dnsmasq.WaitForExitAsync();
            dnsmasq.Dispose();
        });
    }

    private async Task<Server> StartServerAsync(string name, string domain, string address)
    {
        string ns = $"mkf{tag}{name}";
        Ip("netns", "add", ns);
        undo.Add(() => Task.Run(() => Ip("netns", "del", ns)));

        // 'ip netns exec' binds /etc/netns/NS/resolv.conf over /etc/resolv.conf for the server: it asks our dnsmasq.
        string etc = Path.Combine("/etc/netns", ns);
        Directory.CreateDirectory(etc);
        undo.Add(() => Task.Run(() => Directory.Delete(etc, recursive: true)));
        await File.WriteAllTextAsync(Path.Combine(etc, "resolv.conf"), $"nameserver {Bridge}\n");

        string inside = $"mkf{tag}{name}i";
        Ip("link", "add", $"mkf{tag}{name}o", "type", "veth", "peer", "name", inside);
        undo.Add(() => Task.Run(() => Ip("link", "del", $"mkf{tag}{name}o")));
        Ip("link", "set", $"mkf{tag}{name}o", "master", BridgeName, "up");
        Ip("link", "set", inside, "netns", ns);
        Ip("-n", ns, "addr", "add", address + "/24", "dev", inside);
        Ip("-n", ns, "link", "set", inside, "up");
        Ip("-n", ns, "link", "set", "lo", "up");

        var server = await ProsodyServer.StartAsync(ProsodyOptions.Default with
        {
            Domains = [new ProsodyDomain(domain)],
            Address = address,
            Port = 5222,
            NetworkNamespace = ns,
            Federation = new ProsodyFederation(),
        });
        undo.Add(() => server.DisposeAsync().AsTask());
        return new Server(server);
    }

    private static void Ip(params string[] args)
    {
        var start = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardError = true };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var p = Process.Start(start)!;
        string error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"ip {string.Join(' ', args)} failed: {error.Trim()}");
        }
    }

    /// <summary>One federated server as the tests use it.</summary>
    public sealed class Server(ProsodyServer server)
    {
        public string Account(string user, string password)
        {
            server.AddAccount(user, password);
            return $"{user}@{server.Domain}";
        }

        public XmppClientOptions Client(string jid, string resource, string password) => XmppClientOptions.Default with
        {
            Host = server.Address,
            Port = server.Port,
            Jid = jid,
            Password = password,
            Resource = resource,
            Tls = TlsMode.Disabled,
            ReconnectMinDelay = TimeSpan.FromMilliseconds(50),
            ReconnectMaxDelay = TimeSpan.FromSeconds(1),
        };

        /// <summary>Kills the server with SIGKILL: no stream close, no unavailable presence, as when its host dies.</summary>
        public void Kill()
        {
            int pid = int.Parse(File.ReadAllText(Path.Combine(server.DataDirectory, "prosody.pid")).Trim(), CultureInfo.InvariantCulture);
            using var p = Process.GetProcessById(pid);
            p.Kill();
            p.WaitForExit();
        }
    }
}
