using System.CommandLine;
using System.Net;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Moat.Mtd.Placement;
using Moat.Mtd.Policy;
using Moat.Mtd.Relocation;
using Moat.Mtd.Relocation.Network;

namespace Moat.Mtd.Cli;

/// <summary>`moat mtd run`: the relocation scheduler as a long-running process over the host agents of this machine.</summary>
public static class RunCommand
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    public static Command Create()
    {
        var hosts = new Option<string[]>("--host")
        {
            Description = "A host: a local agent's state folder (its socket is agent.sock there) or a host's JID on the XMPP fabric (then give --xmpp); two or more.",
            Required = true,
            AllowMultipleArgumentsPerToken = false,
        };
        var sandboxes = new Option<string[]>("--sandbox") { Description = "A sandbox to keep moving, by name (it keeps its name across hosts); one or more, or --all.", AllowMultipleArgumentsPerToken = false };
        var all = new Option<bool>("--all")
        {
            Description = "Move the whole fleet: every running sandbox of the hosts (new ones as they appear, checked every --discover-every), each on its client's policy (--client-policy, else --policy), its clock counted from its start.",
        };
        var clientPolicies = new Option<string[]>("--client-policy")
        {
            Description = "With --all: CLIENT=POLICY, the policy for every sandbox of that client (e.g. mallory=periodic:10m, alice=off); repeatable. Others get --policy.",
            AllowMultipleArgumentsPerToken = false,
        };
        var budget = new Option<int>("--budget") { Description = "Moves out of each host in any hour, at most; a due sandbox beyond it waits. 0: no limit.", DefaultValueFactory = _ => 12 };
        var discoverEvery = new Option<string>("--discover-every") { Description = "With --all: how often the hosts are listed for new and gone sandboxes.", DefaultValueFactory = _ => "10s" };
        var policy = new Option<string>("--policy")
        {
            Description = "When to move: periodic:DURATION (e.g. periodic:30m), poisson:RATE (moves per hour, e.g. poisson:4), poisson:RATE:THRESHOLD (never sooner than THRESHOLD after the last move), or on-alert (only with --on-alert).",
            DefaultValueFactory = _ => "poisson:1",
        };
        var onAlert = new Option<bool>("--on-alert")
        {
            Description = "Also move a tracked sandbox away at once when its host's watchers raise an alert (network detector or exec rule) about another sandbox on that host: the suspect.",
        };
        var alertsSince = new Option<DateTimeOffset?>("--alerts-since") { Description = "With --on-alert: act on alerts raised from this time on (ISO 8601); default: when the command starts." };
        var capacity = new Option<int>("--capacity") { Description = "Sandboxes each host may hold.", DefaultValueFactory = _ => 16 };
        var duration = new Option<string?>("--for") { Description = "Stop after this long (e.g. 10m, 90s); default: until interrupted." };
        var seed = new Option<int?>("--seed") { Description = "Seed of the Poisson clock, for a reproducible schedule." };
        var json = new Option<bool>("--json") { Description = "One JSON object per relocation, a line each." };
        var vips = new Option<string[]>("--vip")
        {
            Description = "SANDBOX=ADDR:PORT: a stable service address for a moving sandbox (repeatable). Clients use ADDR:PORT; each move switches it to the sandbox's new address once the copy answers on PORT, and withdraws the old one.",
            AllowMultipleArgumentsPerToken = false,
        };
        var frontNetns = new Option<string?>("--front-netns") { Description = "Network namespace that holds the service addresses (their nftables table, moat_mtd_vip); default: this machine's own." };
        var frontOut = new Option<string?>("--front-out") { Description = "Interface of the front toward the hosts, masqueraded (needed when the hosts are not routed back through the front)." };
        var command = new Command("run", """
            Keep sandboxes moving between host agents (RELOCATE's scheduler as a process): each sandbox's clock says
            when (periodic or Poisson; with --on-alert also at once when a neighbour on its host raises an alert), the
            placement policy picks the destination with the largest heterogeneity Δ under capacity, and each move is a
            relocation as `moat mtd relocate` does it (live for gvisor sandboxes runsc can checkpoint, cold otherwise).
            Prints every move (or refusal) as it happens; stops at --for or on Ctrl-C.
            Hosts on the XMPP fabric are named by JID and driven by IQs (state moves through the XMPP server as in-band
            bytestreams); give your fabric account with --xmpp and --xmpp-password-file, and run each such host with
            --xmpp-admin naming it.
            With --vip SANDBOX=ADDR:PORT the sandbox keeps a stable service address: an nftables table (moat_mtd_vip) in
            --front-netns (default: this machine's namespace) maps ADDR to the sandbox's current address, and each move
            switches it once the copy answers on PORT. The table stays when the command stops, so clients keep the
            address; `nft delete table ip moat_mtd_vip` removes it. The hosts' containment must let the front reach PORT.
            With --all the whole fleet moves without anyone naming sandboxes: each running sandbox (named or not) gets its
            client's policy and a clock from its start, new sandboxes are picked up as they appear, and --budget caps the
            moves out of each host per hour (alert-driven moves included).
            Example: moat mtd run --host /var/lib/moat-a --host /var/lib/moat-b --sandbox web --policy periodic:30m --vip web=198.18.99.1:80
                     moat mtd run --host host-a@moat.test --host host-b@moat.test --xmpp mtd@moat.test --xmpp-password-file mtd.pw --sandbox web
                     moat mtd run --host /var/lib/moat-a --host /var/lib/moat-b --all --policy off --client-policy stranger=poisson:2 --budget 6
            """) { hosts, sandboxes, all, clientPolicies, budget, discoverEvery, policy, onAlert, alertsSince, capacity, duration, seed, json, vips, frontNetns, frontOut };
        var account = new HostTargets.FabricAccount();
        account.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var specs = parse.GetValue(hosts)!.Distinct(StringComparer.Ordinal).ToList();
            if (specs.Count < 2)
            {
                await error.WriteLineAsync("name at least two different host agents with --host (a sandbox needs somewhere to move to).").ConfigureAwait(false);
                return 2;
            }

            if (ParsePolicy(parse.GetValue(policy)!) is not { } clock || (clock is OnAlertRelocationPolicy && !parse.GetValue(onAlert)))
            {
                await error.WriteLineAsync($"--policy '{parse.GetValue(policy)}' is not periodic:DURATION, poisson:RATE[:THRESHOLD], or on-alert with --on-alert.").ConfigureAwait(false);
                return 2;
            }

            var named = parse.GetValue(sandboxes) ?? [];
            var everySandbox = parse.GetValue(all);
            if (named.Length == 0 && !everySandbox)
            {
                await error.WriteLineAsync("name the sandboxes to keep moving with --sandbox NAME, or move every sandbox of the hosts with --all.").ConfigureAwait(false);
                return 2;
            }

            if (parse.GetValue(budget) < 0)
            {
                await error.WriteLineAsync($"--budget {parse.GetValue(budget)} is not a number of moves per hour (0 for no limit).").ConfigureAwait(false);
                return 2;
            }

            var table = new RelocationPolicyTable(clock);
            foreach (var cp in parse.GetValue(clientPolicies) ?? [])
            {
                var eq = cp.IndexOf('=', StringComparison.Ordinal);
                if (!everySandbox || eq <= 0 || ParsePolicy(cp[(eq + 1)..]) is not { } p || (p is OnAlertRelocationPolicy && !parse.GetValue(onAlert)) || table.Tenants.ContainsKey(cp[..eq]))
                {
                    await error.WriteLineAsync($"--client-policy '{cp}' is not CLIENT=POLICY with a policy as --policy takes, once per client, with --all.").ConfigureAwait(false);
                    return 2;
                }

                table = table.WithTenant(cp[..eq], p);
            }

            if (ParseDuration(parse.GetValue(discoverEvery)!) is not { } every || every < TimeSpan.FromSeconds(1))
            {
                await error.WriteLineAsync($"--discover-every '{parse.GetValue(discoverEvery)}' is not a duration of at least 1s (e.g. 10s, 1m).").ConfigureAwait(false);
                return 2;
            }

            TimeSpan? stopAfter = null;
            if (parse.GetValue(duration) is { } d)
            {
                if (ParseDuration(d) is not { } parsed)
                {
                    await error.WriteLineAsync($"--for '{d}' is not a duration such as 90s, 10m or 2h.").ConfigureAwait(false);
                    return 2;
                }

                stopAfter = parsed;
            }

            var services = new Dictionary<string, IPEndPoint>(StringComparer.Ordinal);
            foreach (var v in parse.GetValue(vips) ?? [])
            {
                if (ParseVip(v) is not { } vip || !named.Contains(vip.Sandbox) || !services.TryAdd(vip.Sandbox, vip.Endpoint))
                {
                    await error.WriteLineAsync($"--vip '{v}' is not SANDBOX=ADDR:PORT for a sandbox named by --sandbox, once each, with an IPv4 ADDR (e.g. web=198.18.99.1:80).").ConfigureAwait(false);
                    return 2;
                }
            }

            HostTargets targets;
            try
            {
                targets = await HostTargets.OpenAsync(specs, account, parse, ct).ConfigureAwait(false);
            }
            catch (MtdException e)
            {
                await error.WriteLineAsync(e.Message).ConfigureAwait(false);
                return 2;
            }

            await using (targets)
            {
                var agents = targets.Hosts;
                await using var front = services.Count == 0 ? null : await OpenFrontAsync(parse.GetValue(frontNetns), parse.GetValue(frontOut), error, ct).ConfigureAwait(false);
                if (services.Count > 0 && front is null)
                {
                    return 2;
                }

                var bindings = new Dictionary<string, ServiceBinding>(StringComparer.Ordinal);
                foreach (var (name, endpoint) in services)
                {
                    // The address follows the sandbox from where it runs now.
                    var here = await FindAsync(agents, name, ct).ConfigureAwait(false);
                    if (here is not { Address: { } address })
                    {
                        await error.WriteLineAsync($"--vip {name}: no host named by --host runs a sandbox named '{name}'.").ConfigureAwait(false);
                        return 2;
                    }

                    await front!.SwitchAsync(endpoint.Address, IPAddress.Parse(address), ct).ConfigureAwait(false);
                    bindings[name] = new ServiceBinding(front, endpoint.Address, endpoint.Port);
                    if (!parse.GetValue(json))
                    {
                        await output.WriteLineAsync($"service address {endpoint} -> {name} at {address}").ConfigureAwait(false);
                    }
                }

                // Δ compares what each host says it is (kernel, OS, CPU, runtime version); agents of one machine share
                // all of it, and what tells them apart is their uplink.
                var fleet = new List<FleetHost>();
                for (var i = 0; i < agents.Count; i++)
                {
                    var configuration = await ConfigurationOfAsync(agents[i], ct).ConfigureAwait(false);
                    fleet.Add(new FleetHost(agents[i], configuration, new NetworkLocation("local", "uplink-" + i.ToString(CultureInfo.InvariantCulture)), parse.GetValue(capacity)));
                    if (!parse.GetValue(json))
                    {
                        await output.WriteLineAsync($"{agents[i].Name}: {configuration.OsImage}, kernel {configuration.Kernel}, {configuration.Cpu ?? "CPU not published"}, {configuration.Runtime ?? "runtime not published"}").ConfigureAwait(false);
                    }
                }

                var scheduler = new RelocationScheduler(fleet, new RelocationCoordinator(), new HeterogeneityPlacementPolicy(HeterogeneityWeights.Default),
                    TimeProvider.System, parse.GetValue(seed) is { } s ? new Random(s) : new Random());
                if (parse.GetValue(budget) > 0)
                {
                    scheduler.UseBudget(new MoveBudget(parse.GetValue(budget), TimeProvider.System));
                }

                if (everySandbox)
                {
                    scheduler.TrackEverySandbox(table, every, parse.GetValue(onAlert));
                }

                foreach (var name in named)
                {
                    scheduler.Track(name, parse.GetValue(onAlert) && clock is not OnAlertRelocationPolicy ? clock with { AlsoOnAlert = true } : clock,
                        bindings.GetValueOrDefault(name));
                }

                using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
                if (stopAfter is { } after)
                {
                    stop.CancelAfter(after);
                }

                if (!parse.GetValue(json))
                {
                    var what = everySandbox ? "every sandbox" : string.Join(", ", named);
                    var limit = parse.GetValue(budget) > 0 ? $", at most {parse.GetValue(budget)} moves an hour out of each host" : "";
                    await output.WriteLineAsync($"moving {what} among {agents.Count} hosts ({parse.GetValue(policy)}{limit}); interrupt to stop.").ConfigureAwait(false);
                }

                var moved = 0;
                var alerts = parse.GetValue(onAlert)
                    ? WatchAlertsAsync(agents, scheduler, parse.GetValue(alertsSince) ?? DateTimeOffset.UtcNow, parse.GetValue(json) ? null : output, stop.Token)
                    : Task.CompletedTask;
                try
                {
                    await scheduler.RunAsync(async r =>
                    {
                        moved += r.Report?.Succeeded == true ? 1 : 0;
                        await output.WriteLineAsync(parse.GetValue(json) ? JsonSerializer.Serialize(Summary(r), Json) : Describe(r)).ConfigureAwait(false);
                    }, stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // --for elapsed or interrupted.
                }

                await alerts.ConfigureAwait(false);
                if (!parse.GetValue(json))
                {
                    await output.WriteLineAsync($"stopped after {moved} relocations.").ConfigureAwait(false);
                }

                return 0;
            }
        });
        return command;
    }

    /// <summary>
    /// Polls every host's alerts each second; an alert raised since <paramref name="since"/> about sandbox S on host H
    /// makes each tracked sandbox on H (other than S) a victim of S: the scheduler moves it away at once.
    /// </summary>
    private static async Task WatchAlertsAsync(IReadOnlyList<IRelocationHost> agents,
        RelocationScheduler scheduler, DateTimeOffset since, TextWriter? output, CancellationToken cancellationToken)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                for (var i = 0; i < agents.Count; i++)
                {
                    Moat.Host.Watch.AlertsReport report;
                    try
                    {
                        report = await agents[i].AlertsAsync(limit: 200, cancellationToken).ConfigureAwait(false);
                    }
                    catch (RelocationHostException)
                    {
                        continue; // a host that does not answer now may next time
                    }

                    var suspects = report.Network.Where(a => a.Time >= since && seen.Add($"{i}/n/{a.Id}")).Select(a => a.SandboxId)
                        .Concat(report.Exec.Where(a => a.Time >= since && seen.Add($"{i}/e/{a.Time.UtcTicks}/{a.Pid}/{a.Rule}")).Select(a => a.SandboxId))
                        .Distinct(StringComparer.Ordinal).ToList();
                    if (suspects.Count == 0)
                    {
                        continue;
                    }

                    IReadOnlyList<Moat.Host.Sandboxes.Sandbox> here;
                    try
                    {
                        here = await agents[i].ListAsync(cancellationToken).ConfigureAwait(false);
                    }
                    catch (RelocationHostException)
                    {
                        continue;
                    }

                    foreach (var suspect in suspects)
                    {
                        var suspectName = here.FirstOrDefault(s => s.Id == suspect)?.Name ?? suspect;
                        var tracked = scheduler.TrackedSandboxes;
                        foreach (var victim in tracked.Where(t => t != suspectName && t != suspect && here.Any(s => (s.Name ?? s.Id) == t)))
                        {
                            if (scheduler.RaiseAlert(victim, suspectName) && output is not null)
                            {
                                await output.WriteLineAsync($"alert on {agents[i].Name} about {suspectName}: moving {victim} away").ConfigureAwait(false);
                            }
                        }
                    }
                }

                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    /// <summary>A host's configuration for Δ, from the features it publishes; a host that does not publish them (an
    /// older agent) is taken to be like this machine, as before.</summary>
    internal static async Task<HostConfiguration> ConfigurationOfAsync(IRelocationHost host, CancellationToken ct)
    {
        Moat.Host.Agent.HostFeatures? features = null;
        try
        {
            features = (await host.StatusAsync(ct).ConfigureAwait(false)).Features;
        }
        catch (RelocationHostException)
        {
            // Not reachable now: placement leaves it out while it does not answer; its features are unknown.
        }

        features ??= Moat.Host.Agent.HostFeatures.Read([]);
        return new HostConfiguration(Placement.RuntimeTier.Container, features.Kernel, features.Os)
        {
            Cpu = features.Cpu == "unknown" ? null : features.Cpu,
            Runtime = features.Runtimes.TryGetValue("container", out var r) ? r : null,
        };
    }

    private static async Task<VipFront?> OpenFrontAsync(string? netns, string? masquerade, TextWriter error, CancellationToken ct)
    {
        if (netns is not null && !File.Exists(Path.Combine("/run/netns", netns)))
        {
            await error.WriteLineAsync($"--front-netns {netns}: no such network namespace (see 'ip netns list').").ConfigureAwait(false);
            return null;
        }

        try
        {
            return await VipFront.OpenAsync(netns, "moat_mtd_vip", masquerade, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ArgumentException or ServiceAddressException)
        {
            await error.WriteLineAsync($"the service address front could not be set up: {e.Message}").ConfigureAwait(false);
            return null;
        }
    }

    private static async Task<Moat.Host.Sandboxes.Sandbox?> FindAsync(IReadOnlyList<IRelocationHost> hosts, string name, CancellationToken ct)
    {
        foreach (var h in hosts)
        {
            try
            {
                if ((await h.ListAsync(ct).ConfigureAwait(false)).FirstOrDefault(s => s.Name == name && s.State == Moat.Host.Sandboxes.SandboxState.Running) is { } found)
                {
                    return found;
                }
            }
            catch (RelocationHostException)
            {
                // A host that does not answer now holds nothing we can bind.
            }
        }

        return null;
    }

    /// <summary>"web=198.18.99.1:80" → (web, 198.18.99.1:80); null when malformed or not IPv4.</summary>
    internal static (string Sandbox, IPEndPoint Endpoint)? ParseVip(string text)
    {
        var eq = text.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0 || !IPEndPoint.TryParse(text[(eq + 1)..], out var endpoint) || endpoint.Port == 0
            || endpoint.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
        {
            return null;
        }

        return (text[..eq], endpoint);
    }

    internal static object Summary(ScheduledRelocation r) => new
    {
        sandbox = r.Due.SandboxId,
        reason = r.Due.Reason,
        dueAt = r.Due.DueAt,
        placement = r.Placement.Outcome,
        destination = r.Placement.Host?.Id,
        heterogeneity = r.Placement.Heterogeneity,
        report = r.Report,
    };

    internal static string Describe(ScheduledRelocation r)
    {
        var c = CultureInfo.InvariantCulture;
        if (r.Report is not { } report)
        {
            return $"{r.Due.SandboxId}: due ({r.Due.Reason}) but not moved: {r.Placement.Reason}";
        }

        return report.Succeeded
            ? string.Create(c, $"{report.Sandbox}: {report.From} -> {report.To} ({r.Due.Reason}, Δ {r.Placement.Heterogeneity:F2}), {report.Mode.ToString().ToLowerInvariant()}, downtime {report.Downtime.TotalMilliseconds:F0} ms")
              + (report.ClientView is { } v ? string.Create(c, $"; a client saw {v.Failed} of {v.Probes} attempts fail, longest gap {v.LongestGapMs:F0} ms, {v.BrokenConnections} of {v.HeldConnections} held connections broken") : "")
            : $"{report.Sandbox}: {report.Outcome.ToString().ToLowerInvariant()}, stays on {report.From}: {report.Failure}";
    }

    internal static RelocationPolicy? ParsePolicy(string text)
    {
        var parts = text.Split(':');
        var c = CultureInfo.InvariantCulture;
        return parts switch
        {
            ["on-alert"] => RelocationPolicy.OnAlert,
            ["periodic", var d] when ParseDuration(d) is { } interval && interval > TimeSpan.Zero => RelocationPolicy.Periodic(interval),
            ["poisson", var rate] when double.TryParse(rate, NumberStyles.Float, c, out var λ) && λ > 0 => RelocationPolicy.Poisson(λ),
            ["poisson", var rate, var t] when double.TryParse(rate, NumberStyles.Float, c, out var λ) && λ > 0 && ParseDuration(t) is { } threshold => RelocationPolicy.Poisson(λ, threshold),
            _ => null,
        };
    }

    /// <summary>"90s", "10m", "2h", "1.5h".</summary>
    internal static TimeSpan? ParseDuration(string text)
    {
        if (text.Length < 2 || !double.TryParse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var n) || n < 0 || double.IsInfinity(n))
        {
            return null;
        }

        return text[^1] switch
        {
            's' => TimeSpan.FromSeconds(n),
            'm' => TimeSpan.FromMinutes(n),
            'h' => TimeSpan.FromHours(n),
            _ => null,
        };
    }
}
