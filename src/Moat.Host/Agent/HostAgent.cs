using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Moat.Host.Api;
using Moat.Host.Network;
using Moat.Host.Pool;
using Moat.Host.Runtime;
using Moat.Host.Sandboxes;
using Moat.Host.Store;

namespace Moat.Host.Agent;

/// <summary>
/// The host agent (`moat host`): owns a state folder, reconciles the kernel with its store, keeps the warm pool full
/// and serves the local API on a Unix socket until stopped.
/// </summary>
public static class HostAgent
{
    public static readonly string Version = typeof(HostAgent).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    /// <summary>Takes the state folder, reconciles, and returns the ready-to-run agent (the caller runs it).</summary>
    public static async Task<WebApplication> BuildAsync(HostAgentOptions options, Func<string, IImageCatalog> images, CancellationToken cancellationToken = default)
    {
        options.Validate();
        var stateDir = ResolveRealPath(options.StateDir);
        options = options with { StateDir = stateDir };
        // Before anything is served: a folder left 0755 by an older version is closed to other users now.
        StateFolder.Secure(stateDir);
        var agentLock = AgentLock.Acquire(stateDir);
        NftablesContainment? containment = null;
        try
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
            });
            // The log is for the operator (stderr); stdout carries only what scripts read (the "ready" line), so a
            // process that hosts agents (moat mtd lab --json) keeps its own output parseable.
            builder.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
            builder.Logging.SetMinimumLevel(options.LogLevel);
            builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
            builder.WebHost.ConfigureKestrel(k => k.ListenUnixSocket(options.SocketPath));
            builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Converters.Add(new JsonStringEnumConverter()));
            var catalog = images(stateDir);
            builder.Services.AddSingleton(options);
            builder.Services.AddSingleton(TimeProvider.System);
            builder.Services.AddSingleton(catalog);
            builder.Services.AddSingleton(new HostStore(Path.Combine(stateDir, "store.db")));
            var runtimes = await RuntimeRegistry.ProbeAsync(stateDir, options.Runtime, options.Tiers, cancellationToken).ConfigureAwait(false);
            builder.Services.AddSingleton(runtimes);
            builder.Services.AddSingleton(runtimes.For(RuntimeTier.Container));
            // Containment: with a policy file, every sandbox's traffic goes through its nftables chain on the host
            // side of its veth and is forwarded only as its trust level allows; without one, nothing is forwarded.
            containment = await OpenContainmentAsync(options, cancellationToken).ConfigureAwait(false);
            var tierPolicy = new TierPolicy(options.Tiers, containment is null ? null : containment.TrustOf, containment is null ? null : containment.PolicyTrustLevels);
            builder.Services.AddSingleton(tierPolicy);
            builder.Services.AddSingleton<ISandboxNetwork>(new NetlinkNetwork(options.HostNamespace, forwarding: containment is not null));
            if (containment is not null)
            {
                // Through a factory, so that the container disposes it (rules socket, policy watcher) with the agent.
                var owned = containment;
                builder.Services.AddSingleton(_ => owned);
                builder.Services.AddSingleton<ISandboxContainment>(sp => sp.GetRequiredService<NftablesContainment>());
                builder.Services.AddSingleton<Watch.ISandboxQuarantine>(sp => sp.GetRequiredService<NftablesContainment>());
                builder.Services.AddSingleton<Watch.ISandboxThrottle>(sp => sp.GetRequiredService<NftablesContainment>());
                builder.Services.AddSingleton(owned.Flows);
                builder.Services.AddSingleton<FlowLogService>();
                builder.Services.AddHostedService(sp => sp.GetRequiredService<FlowLogService>());
            }
            else
            {
                builder.Services.AddSingleton<ISandboxContainment>(NoContainment.Instance);
            }

            builder.Services.AddSingleton<SandboxService>();
            builder.Services.AddSingleton<Reconciler>();
            builder.Services.AddSingleton<HostStatusReporter>();
            // A pool that names no tier keeps ready every tier the policy hands out (issue 19: a stranger's gVisor
            // sandbox started cold while only the container tier was pooled).
            builder.Services.AddSingleton(sp => new WarmPool(sp.GetRequiredService<SandboxService>(), catalog, options.Pool, sp.GetRequiredService<ILogger<WarmPool>>(),
                () => tierPolicy.HandedOut(remoteClients: options.Fabric is not null)));
            builder.Services.AddHostedService(sp => sp.GetRequiredService<WarmPool>());
            builder.Services.AddHostedService<ConsoleLogLimiter>();
            // After the socket accepts and before "ready": the first claim costs what the others cost (docs/benchmarks/cli.md).
            builder.Services.AddHostedService<ClaimPathWarmup>();
            // Watchers (exec monitor, network detectors, responses); containment registers its own quarantine when wired.
            builder.Services.TryAddSingleton<Watch.ISandboxQuarantine>(sp => new Watch.LinkQuarantine(options.HostNamespace, sp.GetRequiredService<ISandboxNetwork>()));
            builder.Services.AddSingleton<Watch.WatchService>();
            builder.Services.AddHostedService(sp => sp.GetRequiredService<Watch.WatchService>());
            builder.Services.AddSingleton<Evidence.EvidenceCollector>();
            Fabric.FabricAgent.Register(builder.Services, options.Fabric);
            builder.Services.AddSingleton(sp =>
            {
                var m = new Metrics.AgentMetrics();
                m.Watch(sp.GetRequiredService<SandboxService>(), sp.GetRequiredService<WarmPool>());
                return m;
            });
            if (options.Metrics is { } metricsAt)
            {
                var endpoint = Metrics.AgentMetricsServer.Parse(metricsAt);
                builder.Services.AddHostedService(sp => new Metrics.AgentMetricsServer(endpoint, sp.GetRequiredService<Metrics.AgentMetrics>(),
                    sp.GetRequiredService<ILogger<Metrics.AgentMetricsServer>>()));
            }
            // Registered through a factory so that the container disposes it (releasing the folder) when the agent stops.
            builder.Services.AddSingleton(_ => agentLock);

            var app = builder.Build();
            _ = app.Services.GetRequiredService<AgentLock>(); // resolved now, so disposing the app releases the folder
            _ = app.Services.GetService<NftablesContainment>(); // likewise: disposing the app closes containment
            if (app.Services.GetService<NftablesContainment>()?.Inner.Resolver is { } resolver)
            {
                // Names refused go to the flow log; DNS used as a tunnel goes to the watchers' alerts and responses.
                var flowLog = app.Services.GetService<FlowLogService>();
                var watch = app.Services.GetRequiredService<Watch.WatchService>();
                resolver.Refused += r => flowLog?.RecordRefusedName(r, resolver.Options.Listen.Address);
                resolver.TunnelCaught += watch.RaiseAlert;
            }

            // Said once the agent is up, after its "ready" line, which scripts and tests wait for first.
            app.Lifetime.ApplicationStarted.Register(() => runtimes.Report(app.Services.GetRequiredService<ILogger<RuntimeRegistry>>()));
            // Kestrel makes the socket with the process's umask; whoever connects drives every sandbox, so root only.
            app.Lifetime.ApplicationStarted.Register(() => File.SetUnixFileMode(options.SocketPath, StateFolder.PrivateFile));
            var report = await app.Services.GetRequiredService<Reconciler>().ReconcileAsync(cancellationToken).ConfigureAwait(false);
            app.MapSandboxApi();
            app.MapContainmentApi();
            Watch.WatchApi.MapWatchApi(app);
            var status = app.Services.GetRequiredService<HostStatusReporter>();
            status.LastReconcile = report;
            app.MapGet("/v1/host", () => TypedResults.Ok(status.Status()));

            // Again, for what the agent made since (the store and its journal files, the runtimes' roots).
            StateFolder.Secure(stateDir);

            // We hold the state folder's lock, so a socket file left there is a dead agent's.
            File.Delete(options.SocketPath);
            return app;
        }
        catch
        {
            containment?.Dispose();
            agentLock.Dispose();
            throw;
        }
    }

    /// <summary>The host's own IPv4 addresses (in its network namespace, and the tunnel address): no sandbox may reach
    /// them, and no tenant may name one as its client's address.</summary>
    private static List<System.Net.IPAddress> HostAddresses(Moat.Linux.Namespaces.NetworkNamespace? ns, HostAgentOptions options)
    {
        using var netlink = ns is null ? Moat.Linux.Netlink.RtNetlink.Open() : Moat.Linux.Netlink.RtNetlink.OpenIn(ns);
        var addresses = netlink.ListAddresses().Select(a => a.Address)
            .Where(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && !System.Net.IPAddress.IsLoopback(a)).ToList();
        if (options.TunnelAddress is { } tunnel && System.Net.IPAddress.TryParse(tunnel, out var t) && !addresses.Contains(t))
        {
            addresses.Add(t);
        }

        return addresses;
    }

    private static async Task<NftablesContainment?> OpenContainmentAsync(HostAgentOptions options, CancellationToken cancellationToken)
    {
        if (options.ResolvedPolicyFile is not { } policy)
        {
            return options.Uplinks.Count > 0
                ? throw new InvalidRequestException("--uplink shapes sandboxes by the policy's rates, and there is no policy: give --policy FILE (or put policy.yaml in the state folder).")
                : options.TunnelAddress is not null
                    ? throw new InvalidRequestException("--tunnel-address opens tunnels for untrusted sandboxes, and with no policy there is no trust level: give --policy FILE (or put policy.yaml in the state folder).")
                    : options.DnsUpstream is not null
                        ? throw new InvalidRequestException("--dns-upstream runs the egress resolver, which answers the names the policy allows, and there is no policy: give --policy FILE (or put policy.yaml in the state folder).")
                        : null;
        }

        using var ns = options.HostNamespace is null ? null : Moat.Linux.Namespaces.NetworkNamespace.Open(options.HostNamespace);
        if (options.Crl is { } crl && options.AuthCertRoot is null)
        {
            throw new InvalidRequestException($"--crl '{crl}' revokes authcerts, and with no --authcert-root this host opens no path by authcert: give --authcert-root too.");
        }

        if (options.Crl is { } path && !File.Exists(path) && !Directory.Exists(path))
        {
            throw new InvalidRequestException($"--crl '{path}' does not exist: give the CRL file or the folder of CRLs the CA publishes.");
        }

        var crls = new Moat.Pki.Revocation.CrlStore();
        var roots = options.AuthCertRoot is null ? null
            : new Moat.Pki.AuthCerts.AuthCertVerifier(Moat.Pki.Storage.PemFiles.ReadCertificates(options.AuthCertRoot), crls: crls);
        var revocation = roots is null ? null
            : new Moat.Containment.AuthCerts.AuthCertRevocationOptions(crls, options.Crl, Path.Combine(options.StateDir, "authcerts"));
        var uplinks = options.ParsedUplinks();
        Moat.Containment.Shaping.SandboxShaper? shaper;
        Moat.Containment.Tunnels.TunnelManager? tunnels = null;
        try
        {
            shaper = uplinks.Count == 0 ? null
                : await Moat.Containment.Shaping.SandboxShaper.StartAsync(new Moat.Containment.Shaping.ShapingOptions { Uplinks = uplinks, Namespace = ns }, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (Moat.Containment.Shaping.ShapingException e)
        {
            throw new InvalidRequestException($"rate limits cannot start on --uplink {string.Join(", ", options.Uplinks)}: {e.Message}");
        }

        try
        {
            // Replies to what sandboxes send come back in by the uplinks: the host forwards from them (and only them,
            // besides the sandboxes' own veths), so that a host with ip_forward off still carries its sandboxes' flows.
            foreach (var u in uplinks)
            {
                Moat.Linux.Namespaces.Sysctl.Write(ns, $"net.ipv4.conf.{u.Device}.forwarding", "1");
            }

            tunnels = options.TunnelAddress is null ? null
                : new Moat.Containment.Tunnels.TunnelManager(new Moat.Containment.Tunnels.TunnelOptions { HostUnderlayAddress = System.Net.IPAddress.Parse(options.TunnelAddress), Namespace = ns });
            var pool = System.Net.IPNetwork.Parse(options.AddressPool);
            var contained = Moat.Containment.Hosting.SandboxContainment.Open(
                Moat.Containment.Rules.ContainmentOptions.Default with
                {
                    LanPrefixes = [pool, .. options.ParsedLan()], SandboxPool = pool, HostAddresses = HostAddresses(ns, options),
                    Resolver = options.DnsUpstream is null ? null : Moat.Linux.Plumbing.SandboxLinkOptions.Default.Gateway,
                },
                policy,
                ns,
                roots,
                shaper: shaper,
                tunnels: tunnels,
                revocation: revocation);
            if (options.DnsUpstream is { } upstream)
            {
                var resolver = new Moat.Containment.Resolver.EgressResolver(
                    new Moat.Containment.Resolver.EgressResolverOptions
                    {
                        Listen = new System.Net.IPEndPoint(Moat.Linux.Plumbing.SandboxLinkOptions.Default.Gateway, 53),
                        Upstream = Moat.Containment.Resolver.EgressResolverOptions.ParseUpstream(upstream),
                    },
                    contained.Rules,
                    ns: ns);
                try
                {
                    resolver.Start();
                    contained.AttachResolver(resolver);
                }
                catch (Moat.Containment.ContainmentException e)
                {
                    resolver.Dispose();
                    contained.Dispose();
                    throw new InvalidRequestException(e.Message);
                }
            }

            return new NftablesContainment(contained);
        }
        catch (Exception e)
        {
            shaper?.Dispose();
            tunnels?.Dispose();
            if (e is Moat.Containment.ContainmentInputException input)
            {
                throw new InvalidRequestException(input.Message); // e.g. a CRL that cannot be read
            }

            throw;
        }
    }

    /// <summary>runc refuses a root file system path that goes through a symlink, so the state folder is resolved once.</summary>
    private static string ResolveRealPath(string path)
    {
        Directory.CreateDirectory(path);
        var full = Path.GetFullPath(path);
        var parts = full.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var current = "/";
        foreach (var part in parts)
        {
            current = Path.Combine(current, part);
            var info = new DirectoryInfo(current);
            if (info.LinkTarget is not null)
            {
                current = info.ResolveLinkTarget(returnFinalTarget: true)!.FullName;
            }
        }

        return current;
    }
}
