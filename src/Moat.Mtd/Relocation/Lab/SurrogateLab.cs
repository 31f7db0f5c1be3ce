using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Moat.Host;
using Moat.Host.Agent;
using Moat.Host.Fabric;
using Moat.Host.Sandboxes;
using Moat.Linux.Files;
using Moat.Linux.Namespaces;
using Moat.Mtd.Relocation.Network;
using Moat.Xmpp.Server;

namespace Moat.Mtd.Relocation.Lab;

/// <summary>
/// Several surrogate hosts on one machine, for tests, benchmarks and the demo: each host is a real host agent with its
/// own state folder and its own host network namespace; a "LAN" namespace bridges the hosts and a "front" namespace
/// that holds the service VIPs; a client namespace reaches the VIPs through the front. Everything is addressed from
/// 198.18.0.0/15 and lives in namespaces the lab made, so no packet can reach the machine's uplink. Disposing removes
/// every namespace, sandbox, cgroup and folder the lab made, even after a failed test.
/// </summary>
/// <remarks>
/// Layout (a = a random even octet): LAN 198.18.a.0/24 (front .1, host i at .10+i), client link 198.18.(a+1).0/30
/// (front .1, client .2), VIPs from 198.18.(a+1).128/25, host i's sandbox pool 198.19.(b+i).0/24, routed by the front
/// to host i. The front masquerades toward the LAN, so hosts need no route back to clients.
/// </remarks>
public sealed class SurrogateLab : IAsyncDisposable, ISandboxExposure
{
    private readonly string _tag;
    private readonly int _lanOctet;
    private readonly List<LabHost> _hosts = [];
    private readonly string _fabricPassword = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(12));
    private int _nextVip = 128;

    private SurrogateLab(string tag, int lanOctet, string imagesRoot, Func<string, IImageCatalog> catalog)
    {
        _tag = tag;
        _lanOctet = lanOctet;
        ImagesRoot = imagesRoot;
        Catalog = catalog;
    }

    public string LanNs => "mtl" + _tag;

    public string FrontNs => "mtf" + _tag;

    public string ClientNs => "mtc" + _tag;

    /// <summary>The front's interface toward the hosts (masqueraded).</summary>
    public const string FrontLanInterface = "lan0";

    public IReadOnlyList<LabHost> Hosts => _hosts;

    public string ImagesRoot { get; }

    private Func<string, IImageCatalog> Catalog { get; }

    internal Func<string, IImageCatalog> CatalogFactory => Catalog;

    /// <summary>The lab's XMPP server when it was started with a fabric: every host agent is then on it as
    /// <c>host-a@…</c>, <c>host-b@…</c>, … and <see cref="CoordinatorJid"/> administers them all.</summary>
    public ProsodyServer? Fabric { get; private set; }

    /// <summary>The account a relocation coordinator uses on the lab's fabric.</summary>
    public string CoordinatorJid => "mtd@" + (Fabric ?? throw new MtdException("this lab was started without a fabric.")).Domain;

    /// <summary>A file holding <see cref="CoordinatorJid"/>'s password (for `moat mtd … --xmpp-password-file`); removed with the lab.</summary>
    public string CoordinatorPasswordFile => Fabric is null
        ? throw new MtdException("this lab was started without a fabric.")
        : Path.Combine(SecretsFolder, "coordinator.password");

    /// <summary>The checkpoint key every host of the lab shares (as hosts that move sandboxes live between them must);
    /// removed with the lab.</summary>
    public string CheckpointKeyFile => Path.Combine(SecretsFolder, "checkpoint.key");

    /// <summary>The 0700 folder holding the lab's own secrets (coordinator password, checkpoint key); removed with the lab.</summary>
    public string SecretsFolder => Path.Combine(Path.GetTempPath(), $"moat-mtd-{_tag}-secrets");

    /// <summary>Builds the LAN, the front and the client, then starts <paramref name="hosts"/> agents on it.</summary>
    /// <param name="imagesRoot">An image store every host links to as its images folder (a shared read-only mirror).</param>
    /// <param name="catalog">Turns a state folder into the agent's image catalog.</param>
    /// <param name="poolPrefixLength">Prefix length of each host's sandbox pool (24 normally; 30 makes a host full after 2 sandboxes).</param>
    /// <param name="fabric">Also start an XMPP server (Prosody, on loopback) and put every host agent on it, so that hosts
    /// can be driven over the fabric (<see cref="ConnectCoordinatorAsync"/>, <see cref="LabHost.OnFabric"/>).</param>
    /// <param name="agentLogLevel">Least severe entry the host agents log to the console.</param>
    public static async Task<SurrogateLab> StartAsync(int hosts, string imagesRoot, Func<string, IImageCatalog> catalog, int poolPrefixLength = 24,
        bool fabric = false, Microsoft.Extensions.Logging.LogLevel agentLogLevel = Microsoft.Extensions.Logging.LogLevel.Information, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(hosts, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(hosts, 8);
        var tag = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4));
        var lab = new SurrogateLab(tag, 2 * Random.Shared.Next(1, 120), imagesRoot, catalog);
        try
        {
            if (fabric)
            {
                lab.Fabric = await ProsodyServer.StartAsync(ProsodyOptions.Default, cancellationToken).ConfigureAwait(false);
                lab.Fabric.AddAccount("mtd", lab._fabricPassword);
                SecretFile.CreateFolder(lab.SecretsFolder);
                await SecretFile.WriteLineAsync(lab.CoordinatorPasswordFile, lab._fabricPassword, cancellationToken).ConfigureAwait(false);
            }

            await lab.BuildNetworkAsync(cancellationToken).ConfigureAwait(false);
            var poolBase = Random.Shared.Next(0, 240);
            for (var i = 0; i < hosts; i++)
            {
                await lab.AddHostAsync(i, $"198.19.{poolBase + i}.0/{poolPrefixLength}", agentLogLevel, cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            await lab.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return lab;
    }

    /// <summary>
    /// A relocation coordinator's session on the lab's fabric (an administrator of every host), returned once every host
    /// answers over it.
    /// </summary>
    public async Task<FabricClient> ConnectCoordinatorAsync(CancellationToken cancellationToken = default)
    {
        var server = Fabric ?? throw new MtdException("this lab was started without a fabric.");
        var client = await FabricClient.OpenAsync(CoordinatorJid, $"{server.Address}:{server.Port}", _fabricPassword,
            "mtd-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(3)), cancellationToken).ConfigureAwait(false);
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(TimeSpan.FromSeconds(60));
            foreach (var h in _hosts)
            {
                // A host's agent dials the server when it starts; it answers once its session is bound.
                while (true)
                {
                    try
                    {
                        await h.OnFabric(client).StatusAsync(deadline.Token).ConfigureAwait(false);
                        break;
                    }
                    catch (RelocationHostException) when (!deadline.IsCancellationRequested)
                    {
                        await Task.Delay(50, deadline.Token).ConfigureAwait(false);
                    }
                }
            }

            return client;
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>A fresh VIP for a service (not yet bound).</summary>
    public IPAddress NextVip() => IPAddress.Parse($"198.18.{_lanOctet + 1}.{Interlocked.Increment(ref _nextVip)}");

    /// <summary>Opens a VIP front in the lab's front namespace, with a table of its own.</summary>
    public Task<VipFront> OpenFrontAsync(CancellationToken cancellationToken = default) =>
        VipFront.OpenAsync(FrontNs, "moat_vip_" + _tag, FrontLanInterface, cancellationToken);

    /// <summary>Turns on forwarding on the sandbox's host-side veth, in its host's namespace (the lab's stand-in for a
    /// containment rule publishing the service).</summary>
    public Task ExposeAsync(IRelocationHost host, SandboxDetails sandbox, CancellationToken cancellationToken = default)
    {
        var h = _hosts.FirstOrDefault(x => x.Name == host.Name || x.Jid == host.Name) ?? throw new MtdException($"host '{host.Name}' is not in this lab.");
        using var ns = NetworkNamespace.Open(h.HostNs);
        Sysctl.Write(ns, $"net.ipv4.conf.{sandbox.HostInterface}.forwarding", "1");
        return Task.CompletedTask;
    }

    /// <summary>
    /// Starts a relocatable web service on <paramref name="host"/>: busybox httpd serving <paramref name="body"/> from its
    /// /data volume (so the page moves with the sandbox), published on the lab LAN and bound to a fresh VIP on
    /// <paramref name="front"/>.
    /// </summary>
    /// <param name="tier">The sandbox's runtime tier (gvisor sandboxes move live where runsc can checkpoint them).</param>
    public async Task<LabService> StartWebServiceAsync(VipFront front, LabHost host, string name, string body, RuntimeTier tier = RuntimeTier.Container,
        CancellationToken cancellationToken = default)
    {
        if (body.Contains('\'', StringComparison.Ordinal) || body.Contains('\n', StringComparison.Ordinal))
        {
            throw new ArgumentException("the page body must be one line without single quotes.", nameof(body));
        }

        var created = await host.Sandboxes.CreateAsync(SandboxSpec.Default with
        {
            Name = name,
            Tier = tier,
            Command = ["sh", "-c", $"mkdir -p /data/www && echo '{body}' > /data/www/index.html && exec httpd -f -p 80 -h /data/www"],
        }, start: true, cancellationToken).ConfigureAwait(false);
        await ExposeAsync(host.Relocation, await host.Relocation.InspectAsync(created.Id, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        var vip = NextVip();
        await front.SwitchAsync(vip, IPAddress.Parse(created.Address!), cancellationToken).ConfigureAwait(false);
        return new LabService(created, new ServiceBinding(front, vip, 80, this), new Uri($"http://{vip}/index.html"), body + "\n");
    }

    /// <summary>
    /// Keeps every sandbox of every host published on the LAN — forwarding on each sandbox veth, present and future, as a
    /// containment policy publishing every service would — for drivers that do not call <see cref="ExposeAsync"/> (the
    /// CLI). A new sandbox is published within about 20 ms; stops when disposed.
    /// </summary>
    public IAsyncDisposable PublishAllSandboxes() => new Publisher(_hosts.Select(h => h.HostNs).ToList());

    private sealed class Publisher : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;

        public Publisher(IReadOnlyList<string> namespaces) => _loop = Task.Run(() => LoopAsync(namespaces, _stop.Token));

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync().ConfigureAwait(false);
            await _loop.ConfigureAwait(false);
            _stop.Dispose();
        }

        private static async Task LoopAsync(IReadOnlyList<string> namespaces, CancellationToken stop)
        {
            var handles = namespaces.Select(NetworkNamespace.Open).ToList();
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    foreach (var ns in handles)
                    {
                        // Sandbox veths are the host ends named mh<id>; the conf folders list the namespace's interfaces.
                        var names = NamespaceRunner.Run(ns, () => Directory.GetDirectories("/proc/sys/net/ipv4/conf").Select(Path.GetFileName).ToList());
                        foreach (var name in names.Where(n => n!.StartsWith("mh", StringComparison.Ordinal)))
                        {
                            try
                            {
                                if (Sysctl.Read(ns, $"net/ipv4/conf/{name}/forwarding") != "1")
                                {
                                    Sysctl.Write(ns, $"net/ipv4/conf/{name}/forwarding", "1");
                                }
                            }
                            catch (IOException)
                            {
                                // The interface went away between the listing and the write.
                            }
                        }
                    }

                    try
                    {
                        await Task.Delay(20, stop).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }
            }
            finally
            {
                foreach (var h in handles)
                {
                    h.Dispose();
                }
            }
        }
    }

    /// <summary>A TCP connection from the client namespace.</summary>
    public async Task<Socket> ConnectFromClientAsync(IPEndPoint endpoint, CancellationToken cancellationToken = default)
    {
        using var ns = NetworkNamespace.Open(ClientNs);
        var socket = await NamespaceRunner.RunAsync(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true }, cancellationToken).ConfigureAwait(false);
        try
        {
            await socket.ConnectAsync(endpoint, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>An HTTP client whose connections start in the client namespace.</summary>
    public HttpClient ClientHttp(TimeSpan timeout)
    {
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.Zero,
            ConnectCallback = async (ctx, ct) => new NetworkStream(await ConnectFromClientAsync((IPEndPoint)new DnsEndPointResolver(ctx.DnsEndPoint).EndPoint, ct).ConfigureAwait(false), ownsSocket: true),
        };
        return new HttpClient(handler) { Timeout = timeout };
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var h in _hosts)
        {
            await h.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var ns in new[] { ClientNs, FrontNs, LanNs })
        {
            await Ip("netns", "del", ns).ConfigureAwait(false);
        }

        if (Directory.Exists(SecretsFolder))
        {
            Directory.Delete(SecretsFolder, recursive: true);
        }

        if (Fabric is not null)
        {
            await Fabric.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task BuildNetworkAsync(CancellationToken ct)
    {
        var lan = $"198.18.{_lanOctet}";
        var cli = $"198.18.{_lanOctet + 1}";
        foreach (var ns in new[] { LanNs, FrontNs, ClientNs })
        {
            await IpChecked(ct, "netns", "add", ns).ConfigureAwait(false);
            await IpChecked(ct, "-n", ns, "link", "set", "lo", "up").ConfigureAwait(false);
        }

        await IpChecked(ct, "-n", LanNs, "link", "add", "br0", "type", "bridge").ConfigureAwait(false);
        await IpChecked(ct, "-n", LanNs, "link", "set", "br0", "up").ConfigureAwait(false);
        await PlugAsync(FrontNs, "pfront", $"{lan}.1/24", ct).ConfigureAwait(false);

        await IpChecked(ct, "-n", FrontNs, "link", "add", "cli0", "type", "veth", "peer", "name", "eth0", "netns", ClientNs).ConfigureAwait(false);
        await IpChecked(ct, "-n", FrontNs, "addr", "add", $"{cli}.1/30", "dev", "cli0").ConfigureAwait(false);
        await IpChecked(ct, "-n", FrontNs, "link", "set", "cli0", "up").ConfigureAwait(false);
        await IpChecked(ct, "-n", ClientNs, "addr", "add", $"{cli}.2/30", "dev", "eth0").ConfigureAwait(false);
        await IpChecked(ct, "-n", ClientNs, "link", "set", "eth0", "up").ConfigureAwait(false);
        await IpChecked(ct, "-n", ClientNs, "route", "add", "default", "via", $"{cli}.1").ConfigureAwait(false);
        using var front = NetworkNamespace.Open(FrontNs);
        Sysctl.Write(front, "net.ipv4.ip_forward", "1");
    }

    /// <summary>Joins a namespace to the LAN bridge through a veth named lan0 on its side.</summary>
    private async Task PlugAsync(string ns, string port, string address, CancellationToken ct)
    {
        await IpChecked(ct, "-n", LanNs, "link", "add", port, "type", "veth", "peer", "name", FrontLanInterface, "netns", ns).ConfigureAwait(false);
        await IpChecked(ct, "-n", LanNs, "link", "set", port, "master", "br0", "up").ConfigureAwait(false);
        await IpChecked(ct, "-n", ns, "addr", "add", address, "dev", FrontLanInterface).ConfigureAwait(false);
        await IpChecked(ct, "-n", ns, "link", "set", FrontLanInterface, "up").ConfigureAwait(false);
    }

    private async Task AddHostAsync(int index, string pool, Microsoft.Extensions.Logging.LogLevel logLevel, CancellationToken ct)
    {
        var tag = _tag[..4] + index.ToString(CultureInfo.InvariantCulture) + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(2))[..3];
        var host = new LabHost(this, "host-" + (char)('a' + index), new HostAgentOptions
        {
            StateDir = Path.Combine(Path.GetTempPath(), "moat-mtd-" + tag),
            HostNamespace = "mth" + tag,
            AddressPool = pool,
            LogLevel = logLevel,
            StateImport = StateImportOptions.Default with { CheckpointKeyFile = CheckpointKeyFile },
        });
        if (!File.Exists(CheckpointKeyFile))
        {
            SecretFile.CreateFolder(SecretsFolder);
            await SecretFile.WriteAsync(CheckpointKeyFile, System.Security.Cryptography.RandomNumberGenerator.GetBytes(32), ct).ConfigureAwait(false);
        }

        _hosts.Add(host);
        // Root's alone from the start (the agent loosens the folder itself to 0711 when it secures it).
        SecretFile.CreateFolder(host.Options.StateDir);
        File.CreateSymbolicLink(Path.Combine(host.Options.StateDir, "images"), ImagesRoot);
        if (Fabric is { } server)
        {
            // As `moat host --xmpp host-a@… --xmpp-password-file F --xmpp-admin mtd@…` would.
            server.AddAccount(host.Name, _fabricPassword);
            var passwordFile = Path.Combine(host.Options.StateDir, "xmpp.password");
            await SecretFile.WriteLineAsync(passwordFile, _fabricPassword, ct).ConfigureAwait(false);
            host.Options = host.Options with
            {
                Fabric = new FabricOptions
                {
                    Jid = $"{host.Name}@{server.Domain}",
                    Server = $"{server.Address}:{server.Port}",
                    PasswordFile = passwordFile,
                    Admins = [CoordinatorJid],
                    StatusInterval = TimeSpan.FromMilliseconds(500),
                },
            };
        }

        await IpChecked(ct, "netns", "add", host.HostNs).ConfigureAwait(false);
        await IpChecked(ct, "-n", host.HostNs, "link", "set", "lo", "up").ConfigureAwait(false);
        var lanAddress = $"198.18.{_lanOctet}.{10 + index}";
        await PlugAsync(host.HostNs, "ph" + index.ToString(CultureInfo.InvariantCulture), lanAddress + "/24", ct).ConfigureAwait(false);
        using (var ns = NetworkNamespace.Open(host.HostNs))
        {
            // Only the LAN side forwards; each sandbox's veth forwards once it is exposed (see ExposeAsync).
            Sysctl.Write(ns, $"net.ipv4.conf.{FrontLanInterface}.forwarding", "1");
        }

        await IpChecked(ct, "-n", FrontNs, "route", "add", pool, "via", lanAddress).ConfigureAwait(false);
        await host.StartAgentAsync(Catalog, ct).ConfigureAwait(false);
    }

    internal static Task<(int Code, string Output)> Ip(params string[] args) => Run("ip", args, CancellationToken.None);

    private static async Task IpChecked(CancellationToken ct, params string[] args)
    {
        var (code, output) = await Run("ip", args, ct).ConfigureAwait(false);
        if (code != 0)
        {
            throw new MtdException($"ip {string.Join(' ', args)} failed (exit {code}): {output.Trim()}");
        }
    }

    internal static async Task<(int Code, string Output)> Run(string tool, IReadOnlyList<string> args, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync(ct);
        var e = p.StandardError.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct).ConfigureAwait(false);
        return (p.ExitCode, await o.ConfigureAwait(false) + await e.ConfigureAwait(false));
    }

    /// <summary>Resolves the literal IP endpoint an HTTP request names (the lab never uses DNS).</summary>
    private sealed class DnsEndPointResolver(DnsEndPoint endpoint)
    {
        public EndPoint EndPoint { get; } = new IPEndPoint(IPAddress.Parse(endpoint.Host), endpoint.Port);
    }
}

/// <summary>One surrogate host of a <see cref="SurrogateLab"/>: a host agent run in this process, its folder and namespace.</summary>
public sealed class LabHost : IAsyncDisposable
{
    private readonly SurrogateLab _lab;
    private WebApplication? _app;

    internal LabHost(SurrogateLab lab, string name, HostAgentOptions options)
    {
        _lab = lab;
        Name = name;
        Options = options;
        Relocation = new AgentRelocationHost(name, options.SocketPath);
    }

    public string Name { get; }

    public HostAgentOptions Options { get; internal set; }

    public string HostNs => Options.HostNamespace!;

    /// <summary>The host as the relocation coordinator drives it (through the agent's socket).</summary>
    public AgentRelocationHost Relocation { get; private set; }

    /// <summary>The host's JID on the lab's fabric, when the lab has one.</summary>
    public string? Jid => Options.Fabric?.Jid;

    /// <summary>The host as a coordinator on the lab's fabric drives it (over XMPP only).</summary>
    public FabricRelocationHost OnFabric(FabricClient coordinator) =>
        new(coordinator, Jid ?? throw new MtdException($"{Name} is not on a fabric: start the lab with fabric: true."));

    public bool AgentRunning => _app is not null;

    /// <summary>The agent's sandbox service, to look at its store directly (tests).</summary>
    public SandboxService Sandboxes => _app?.Services.GetRequiredService<SandboxService>() ?? throw new MtdException($"the agent of {Name} is not running.");

    internal async Task StartAgentAsync(Func<string, IImageCatalog> catalog, CancellationToken ct)
    {
        _app = await HostAgent.BuildAsync(Options, catalog, ct).ConfigureAwait(false);
        await _app.StartAsync(ct).ConfigureAwait(false);
        Options = Options with { StateDir = _app.Services.GetRequiredService<HostAgentOptions>().StateDir };
        Relocation.Dispose();
        Relocation = new AgentRelocationHost(Name, Options.SocketPath);
    }

    /// <summary>Starts the agent again after <see cref="StopAgentAsync"/> (it reconciles what it finds).</summary>
    public Task RestartAgentAsync(CancellationToken ct = default) => StartAgentAsync(CatalogOf(), ct);

    /// <summary>Stops the agent as a crash would look from outside: its socket stops answering; its sandboxes keep running.</summary>
    public async Task StopAgentAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync().ConfigureAwait(false);
            await _app.DisposeAsync().ConfigureAwait(false);
            _app = null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        var ids = new List<string>();
        if (_app is null && Directory.Exists(Options.StateDir))
        {
            try
            {
                await StartAgentAsync(CatalogOf(), CancellationToken.None).ConfigureAwait(false);
            }
            catch (MoatHostException)
            {
                // The safety net below removes by name whatever a restarted agent would have.
            }
        }

        if (_app is not null)
        {
            var sandboxes = Sandboxes;
            foreach (var s in sandboxes.List())
            {
                ids.Add(s.Id);
                try
                {
                    await sandboxes.DestroyAsync(s.Id).ConfigureAwait(false);
                }
                catch (MoatHostException)
                {
                    // As above: the safety net removes it by name.
                }
            }

            await StopAgentAsync().ConfigureAwait(false);
        }

        Relocation.Dispose();
        var sandboxDir = Path.Combine(Options.StateDir, "sandboxes");
        if (Directory.Exists(sandboxDir))
        {
            ids.AddRange(Directory.EnumerateDirectories(sandboxDir).Select(d => Path.GetFileName(d)));
        }

        var runtimeRoot = Path.Combine(Options.StateDir, "runtime");
        if (Directory.Exists(runtimeRoot))
        {
            foreach (var c in Directory.EnumerateDirectories(runtimeRoot).Select(d => Path.GetFileName(d)))
            {
                await SurrogateLab.Run(Options.Runtime, ["--root", runtimeRoot, "delete", "--force", c], CancellationToken.None).ConfigureAwait(false);
                ids.Add(c);
            }
        }

        foreach (var id in ids.Distinct())
        {
            await SurrogateLab.Run("umount", ["-l", Path.Combine(sandboxDir, id, "rootfs")], CancellationToken.None).ConfigureAwait(false);
            await SurrogateLab.Ip("netns", "del", "moat-" + id).ConfigureAwait(false);
            foreach (var cg in Directory.EnumerateDirectories("/sys/fs/cgroup").Select(d => Path.Combine(d, "moat", id)).Where(Directory.Exists))
            {
                try
                {
                    Directory.Delete(cg);
                }
                catch (IOException)
                {
                    // Processes still inside: nothing more can be done here.
                }
            }
        }

        await SurrogateLab.Ip("netns", "del", HostNs).ConfigureAwait(false);
        if (Directory.Exists(Options.StateDir))
        {
            Directory.Delete(Options.StateDir, recursive: true);
        }
    }

    private Func<string, IImageCatalog> CatalogOf() => _lab.CatalogFactory;
}

/// <summary>A web service started by <see cref="SurrogateLab.StartWebServiceAsync"/>: its sandbox as created, its VIP
/// binding, the URL clients use and the body every answer has.</summary>
public sealed record LabService(Sandbox Sandbox, ServiceBinding Binding, Uri Url, string Body);
