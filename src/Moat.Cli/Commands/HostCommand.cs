using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Moat.Cli.Composition;
using Moat.Cli.Output;
using Moat.Host;
using Moat.Host.Agent;
using Moat.Host.Client;
using Moat.Host.Sandboxes;

namespace Moat.Cli.Commands;

/// <summary>`moat host`: runs the host agent, and `moat host status` asks a running one.</summary>
internal static partial class HostCommand
{
    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    public static Command Create()
    {
        var pool = new Option<string[]>("--pool")
        {
            Description = "Keep IMAGE=N sandboxes of an image ready in the warm pool (repeatable), e.g. --pool busybox=8: N of each tier the policy hands out; IMAGE@TIER=N (busybox@gvisor=8) keeps that tier alone.",
            AllowMultipleArgumentsPerToken = false,
        };
        var addressPool = new Option<string>("--address-pool")
        {
            Description = "IPv4 prefix the sandboxes' /32 addresses come from.",
            DefaultValueFactory = _ => new HostAgentOptions().AddressPool,
        };
        var hostNetns = new Option<string?>("--host-netns")
        {
            Description = "Put the host ends of sandbox veths in this network namespace instead of the machine's own (tests use it to keep sandboxes away from the uplink).",
        };
        var runtime = new Option<string>("--runtime")
        {
            Description = "OCI runtime binary (runc works as installed; crun needs a cgroup v1 or v2-only host).",
            DefaultValueFactory = _ => "runc",
        };

        var clientTrust = new Option<string[]>("--client-trust")
        {
            Description = "CLIENT=LEVEL: a client's trust level (trusted, semi-trusted, untrusted; repeatable). Untrusted clients get the gvisor tier.",
        };
        var clientTier = new Option<string[]>("--client-tier")
        {
            Description = "CLIENT=TIER: the administrator's runtime tier for a client (container, gvisor, vm; repeatable), replacing its trust default.",
        };
        var defaultTrust = new Option<string>("--default-trust")
        {
            Description = "Trust level of local clients not named by --client-trust.",
            DefaultValueFactory = _ => TierOptions.Trusted,
        };
        var remoteDefaultTrust = new Option<string>("--remote-default-trust")
        {
            Description = "Trust level of remote clients (named by a JID, as every --xmpp-allow requester is) not named by --client-trust.",
            DefaultValueFactory = _ => TierOptions.Untrusted,
        };

        var checkpointKey = new Option<string?>("--checkpoint-key")
        {
            Description = "A file of at least 32 secret bytes (0600) that seals this host's gVisor checkpoints; a checkpoint arriving with a moved sandbox is restored only when "
                + "sealed with it, so give the same file to hosts that move sandboxes live between them. Default: a key of this host's own in <state>/keys.",
        };
        var importMaxBytes = new Option<long>("--state-import-max-bytes")
        {
            Description = "Largest sandbox state archive (bytes) accepted from another host or tenant.",
            DefaultValueFactory = _ => StateImportOptions.Default.MaxBytes,
        };
        var importMaxEntries = new Option<int>("--state-import-max-entries")
        {
            Description = "Most members (files, folders, links) a sandbox state archive may hold.",
            DefaultValueFactory = _ => StateImportOptions.Default.MaxEntries,
        };

        var policyFile = new Option<string?>("--policy")
        {
            Description = "The containment policy (YAML; see 'moat policy check --help'), reloaded live. It decides each client's trust, "
                + "replacing --client-trust/--default-trust. Default: policy.yaml in the state folder if present; with none, nothing is forwarded.",
        };
        var authcertRoot = new Option<string?>("--authcert-root")
        {
            Description = "Root certificate(s) (PEM) that authcerts given to 'moat sandbox allow' must chain to.",
        };

        var crl = new Option<string?>("--crl")
        {
            Description = "A CRL file, or a folder of CRLs (PEM or DER), of the CAs that issue authcerts; read again whenever it changes: "
                + "revoked authcerts are refused and the paths they opened are closed at once.",
        };

        var uplink = new Option<string[]>("--uplink")
        {
            Description = "An uplink sandbox traffic leaves by, as DEV=RATE with its real bandwidth (e.g. eth0=1gbit); repeatable. "
                + "With one, the policy's 'rates' are enforced (HTB, shared fairly between the host and its sandboxes).",
            AllowMultipleArgumentsPerToken = false,
        };

        var tunnelAddress = new Option<string?>("--tunnel-address")
        {
            Description = "This host's IPv4 address as clients reach it. With it, each untrusted sandbox whose client gave its address "
                + "(--client-address) gets a VXLAN tunnel to that client and reaches the rest of the network only through it; "
                + "'moat sandbox inspect' prints the client's 'moat client tunnel' command. Needs a policy.",
        };

        var dnsUpstream = new Option<string?>("--dns-upstream")
        {
            Description = "The resolver sandboxes' allowed names are forwarded to, ADDR[:PORT] (e.g. 192.0.2.53). With it the agent "
                + "answers sandboxes' DNS on their gateway 169.254.1.1 for the names the policy's 'names' allow, opens each answer's "
                + "addresses until its TTL, and refuses every other DNS, DoT and known DoH. Needs a policy.",
        };

        var lan = new Option<string[]>("--lan")
        {
            Description = "A prefix of this host's LAN, e.g. 192.168.1.0/24 (repeatable): sandboxes that are not trusted may not reach "
                + "it, and no tenant may name an address in it as its client's, unless the policy binds that address to the client.",
            AllowMultipleArgumentsPerToken = false,
        };

        var disk = new Option<string>("--disk")
        {
            Description = "Disk of each sandbox that does not ask for a size (sandbox run --disk): a sparse ext4 image holding its "
                + "root file system's writes, /data and console log, e.g. 1G. A sandbox that fills it gets ENOSPC; nothing else does.",
            DefaultValueFactory = _ => "1G",
        };

        var metrics = new Option<string>("--metrics")
        {
            Description = "ADDR:PORT for Prometheus to scrape /metrics from (nothing else is served there), or 'off'.",
            DefaultValueFactory = _ => "127.0.0.1:9464",
        };
        var cmd = new Command("host", """
            Run this machine's host agent in the foreground: it owns the state folder, reconciles the sandboxes,
            network plumbing and mounts it finds with its store, keeps the warm pool full and serves the local API
            that the other moat commands use (a Unix socket in the state folder). Stop it with Ctrl-C or SIGTERM;
            sandboxes keep running and the next agent adopts them.

            Example:  moat host --pool busybox=8
            """)
        {
            pool, addressPool, hostNetns, runtime, clientTrust, clientTier, defaultTrust, remoteDefaultTrust, policyFile, authcertRoot, crl, uplink, tunnelAddress, lan, disk,
        };
        cmd.Options.Add(dnsUpstream);
        cmd.Options.Add(checkpointKey);
        cmd.Options.Add(metrics);
        cmd.Options.Add(importMaxBytes);
        cmd.Options.Add(importMaxEntries);
        var fabric = new FabricCommands.HostOptions();
        fabric.AddTo(cmd);
        cmd.SetAction(async (p, ct) =>
        {
            var targets = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var entry in p.GetValue(pool) ?? [])
            {
                var eq = entry.LastIndexOf('=');
                if (eq <= 0 || !int.TryParse(entry[(eq + 1)..], out var n))
                {
                    throw new MoatException(ErrorKind.Invalid, $"--pool '{entry}' is not IMAGE=N (for example busybox=8).");
                }

                targets[entry[..eq]] = n;
            }

            var trusts = new Dictionary<string, string>(StringComparer.Ordinal);
            var tiers = new Dictionary<string, RuntimeTier>(StringComparer.Ordinal);
            foreach (var entry in p.GetValue(clientTrust) ?? [])
            {
                var eq = entry.LastIndexOf('=');
                if (eq <= 0)
                {
                    throw new MoatException(ErrorKind.Invalid, $"--client-trust '{entry}' is not CLIENT=LEVEL (for example alice=untrusted).");
                }

                trusts[entry[..eq]] = entry[(eq + 1)..];
            }

            foreach (var entry in p.GetValue(clientTier) ?? [])
            {
                var eq = entry.LastIndexOf('=');
                if (eq <= 0 || !RuntimeTiers.TryParse(entry[(eq + 1)..], out var t))
                {
                    throw new MoatException(ErrorKind.Invalid, $"--client-tier '{entry}' is not CLIENT=TIER with TIER container, gvisor or vm.");
                }

                tiers[entry[..eq]] = t;
            }

            var diskBytes = SandboxCommands.ParseSize(p.GetValue(disk)!, "--disk");

            var options = new HostAgentOptions
            {
                DiskBytes = diskBytes,
                StateDir = Path.GetFullPath(p.GetValue(CommonOptions.StateDir)!),
                AddressPool = p.GetValue(addressPool)!,
                HostNamespace = p.GetValue(hostNetns),
                Runtime = p.GetValue(runtime)!,
                Pool = targets,
                Tiers = new TierOptions { ClientTrust = trusts, ClientTier = tiers, DefaultTrust = p.GetValue(defaultTrust)!, RemoteDefaultTrust = p.GetValue(remoteDefaultTrust)! },
                PolicyFile = p.GetValue(policyFile) is { } pf ? Path.GetFullPath(pf) : null,
                AuthCertRoot = p.GetValue(authcertRoot) is { } ar ? Path.GetFullPath(ar) : null,
                Crl = p.GetValue(crl) is { } cr ? Path.GetFullPath(cr) : null,
                Uplinks = p.GetValue(uplink) ?? [],
                TunnelAddress = p.GetValue(tunnelAddress),
                DnsUpstream = p.GetValue(dnsUpstream),
                Lan = p.GetValue(lan) ?? [],
                Metrics = p.GetValue(metrics) is "off" ? null : p.GetValue(metrics),
                StateImport = new StateImportOptions
                {
                    MaxBytes = p.GetValue(importMaxBytes),
                    MaxEntries = p.GetValue(importMaxEntries),
                    CheckpointKeyFile = p.GetValue(checkpointKey) is { } ck ? Path.GetFullPath(ck) : null,
                },
            };
            options = options with { Fabric = fabric.Read(p) };
            var app = await HostAgent.BuildAsync(options, ImageCatalog.ForStateDir, ct);

            await using (app)
            {
                app.Lifetime.ApplicationStarted.Register(() =>
                    Console.Out.WriteLine($"moat host ready: socket {options.SocketPath}"));
                await app.RunAsync(ct);
            }

            return 0;
        });

        var status = new Command("status", "Show the running agent's state: runtime, address pool, sandboxes, warm pools, last reconciliation.\nExample: moat host status --json;  moat --state-dir /var/lib/moat-b host status");
        status.SetAction(async (p, ct) =>
        {
            using var client = new HostClient(CommonOptions.SocketPath(p));
            var s = await client.StatusAsync(ct);
            if (p.GetValue(CommonOptions.Json))
            {
                Printer.Json(s);
                return 0;
            }

            Console.Out.WriteLine($"moat host {s.Version}  runtime {s.Runtime}  state {s.StateDir}");
            Console.Out.WriteLine($"address pool {s.AddressPool}  sandboxes {s.Sandboxes}");
            Console.Out.WriteLine($"last reconcile: adopted {s.LastReconcile.Adopted}, restarted {s.LastReconcile.Restarted}, repaired {s.LastReconcile.Repaired}, rolled back {s.LastReconcile.RolledBack}, orphans removed {s.LastReconcile.OrphansRemoved}");
            foreach (var pl in s.Pools)
            {
                Console.Out.WriteLine($"pool {pl.Image} ({pl.Tier.Name()}): {pl.Ready}/{pl.Target} ready");
            }

            foreach (var t in s.Tiers)
            {
                Console.Out.WriteLine($"tier {t.Tier.Name()}: {(t.Available ? "available, " + t.Runtime : "unavailable")} ({t.Detail})");
            }

            Console.Out.WriteLine($"containment: {s.Containment}");
            Console.Out.WriteLine($"flow log: {s.FlowLog}");
            Console.Out.WriteLine($"rate limits: {s.Shaping}");
            Console.Out.WriteLine($"tunnels:     {s.Tunnels}");

            return 0;
        });
        cmd.Subcommands.Add(status);

        var stop = new Command("stop", "Stop the running host agent (SIGTERM). Sandboxes keep running; the next agent adopts them.\nExample: moat host stop");
        stop.SetAction(async (p, ct) =>
        {
            var stateDir = p.GetValue(CommonOptions.StateDir)!;
            var pidFile = Path.Combine(stateDir, "agent.pid");
            if (!File.Exists(pidFile) || !int.TryParse(File.ReadAllText(pidFile).Trim(), out var pid))
            {
                throw new MoatException(ErrorKind.Unavailable, $"no host agent has run on {stateDir}; start one with 'moat host' (or pass --state-dir).");
            }

            try
            {
                using var proc = System.Diagnostics.Process.GetProcessById(pid);
                if (!proc.ProcessName.Contains("moat", StringComparison.Ordinal) && !proc.ProcessName.Contains("dotnet", StringComparison.Ordinal))
                {
                    throw new MoatException(ErrorKind.Unavailable, $"no host agent is running on {stateDir}: pid {pid} in {pidFile} is not a moat agent any more; nothing stopped.");
                }

                _ = Kill(pid, 15);
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                cts.CancelAfter(TimeSpan.FromSeconds(30));
                await proc.WaitForExitAsync(cts.Token);
                Console.Out.WriteLine($"host agent {pid} stopped");
                return 0;
            }
            catch (ArgumentException)
            {
                throw new MoatException(ErrorKind.Unavailable, $"no host agent is running on {stateDir} (pid {pid} is gone).");
            }
            catch (OperationCanceledException)
            {
                throw new MoatException(ErrorKind.Internal, $"host agent {pid} did not stop within 30 s.");
            }
        });
        cmd.Subcommands.Add(stop);
        return cmd;
    }
}
