using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Moat.Containment.Flows;
using Moat.Containment.Rules;
using Moat.Host.Agent;
using Moat.Host.Network;
using Moat.Host.Rootfs;
using Moat.Host.Runtime;
using Moat.Host.Sandboxes;
using Moat.Host.Watch;
using Moat.Monitor.Store;

namespace Moat.Host.Evidence;

/// <summary>One file of an evidence folder, with the hash that lets a later reader show it was not changed.</summary>
public sealed record EvidenceFile(string Name, long Bytes, string Sha256, string What);

/// <summary>What `moat sandbox evidence` wrote: the folder, each file with its hash, and what could not be had.</summary>
public sealed record EvidenceReport(string SandboxId, string Directory, DateTimeOffset CollectedAt, IReadOnlyList<EvidenceFile> Files, IReadOnlyList<string> Notes);


/// <summary>A process of the sandbox as the host's /proc shows it.</summary>
public sealed record EvidenceProcess(int Pid, int ParentPid, string State, int Uid, string Command, IReadOnlyList<string> Arguments, string? Executable);

/// <summary>
/// Exports what a post-mortem of one sandbox needs (WASCo's quarantine, then evidence): the changes to its file system,
/// its processes, every flow the flow log has of it, the alerts and exec records the watchers kept, the rules in
/// force, and its console. Collecting reads only: the sandbox keeps running (or stays frozen) as it was.
/// </summary>
/// <remarks>
/// Each file's SHA-256 is in <c>manifest.json</c>, and the manifest's own hash is returned to the caller, so the
/// folder can be handed on and checked later.
/// </remarks>
public sealed class EvidenceCollector(SandboxService sandboxes, IImageCatalog images, HostAgentOptions agent, WatchService watch, TimeProvider time)
{
    private const int MaxRows = 1_000_000;

    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower), new IpAddressConverter() },
    };

    public async Task<EvidenceReport> CollectAsync(string reference, string? directory, CancellationToken cancellationToken = default)
    {
        var s = sandboxes.Get(reference);
        var at = time.GetUtcNow();
        var dir = directory ?? Path.Combine(agent.StateDir, "evidence", $"{s.Id}-{at.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture)}");
        if (!Path.IsPathFullyQualified(dir))
        {
            throw new InvalidRequestException($"the evidence folder '{dir}' must be an absolute path.");
        }

        if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
        {
            throw new InvalidRequestException($"the evidence folder '{dir}' exists and is not empty; evidence never overwrites evidence.");
        }

        Directory.CreateDirectory(dir);
        var files = new List<EvidenceFile>();
        var notes = new List<string>();

        async Task Write(string name, object value, string what)
        {
            var path = Path.Combine(dir, name);
            await using (var stream = File.Create(path))
            {
                await JsonSerializer.SerializeAsync(stream, value, Json, cancellationToken).ConfigureAwait(false);
            }

            files.Add(await DescribeAsync(path, what, cancellationToken).ConfigureAwait(false));
        }

        var details = await sandboxes.InspectAsync(s.Id, cancellationToken).ConfigureAwait(false);
        var contained = sandboxes.Containment as NftablesContainment;
        await Write("sandbox.json", new
        {
            details.Sandbox,
            details.RuntimeStatus,
            details.Pid,
            details.Runtime,
            details.Tier,
            details.OomKills,
            Quarantined = contained?.Inner.Rules.IsQuarantined(s.Id),
            Host = Environment.MachineName,
            AgentVersion = HostAgent.Version,
            CollectedAt = at,
        }, "the sandbox's record, spec, trust request, runtime state and whether it is quarantined").ConfigureAwait(false);

        var processes = Processes(s, notes);
        await Write("processes.json", processes, "processes in the sandbox's cgroup, from the host's /proc").ConfigureAwait(false);
        var ps = await sandboxes.RuntimeOf(s).ProcessesAsync(s.Id, cancellationToken).ConfigureAwait(false);
        var psFile = Path.Combine(dir, "runtime-ps.txt");
        await File.WriteAllTextAsync(psFile, ps.Succeeded ? ps.StandardOutput : "", cancellationToken).ConfigureAwait(false);
        files.Add(await DescribeAsync(psFile, $"the processes as the sandbox's runtime ({details.Runtime}) lists them", cancellationToken).ConfigureAwait(false));
        if (!ps.Succeeded)
        {
            notes.Add($"the runtime could not list the processes: {ps.Diagnostic}");
        }

        var upper = Path.Combine(sandboxes.SandboxDir(s), "upper");
        if (Directory.Exists(upper))
        {
            var tar = Path.Combine(dir, "filesystem-changes.tar");
            await UpperLayer.ArchiveAsync(upper, tar, cancellationToken).ConfigureAwait(false);
            files.Add(await DescribeAsync(tar, "the overlay's upper layer as it is: new and changed files, deletions as whiteouts", cancellationToken).ConfigureAwait(false));
            var changes = await UpperLayer.ChangesAsync(tar, TryResolveImage(s, notes)?.RootfsPath, cancellationToken).ConfigureAwait(false);
            await Write("filesystem-changes.json", changes, "each path the sandbox added, modified or deleted against its image").ConfigureAwait(false);
        }
        else
        {
            notes.Add("no file system changes: the sandbox's overlay upper layer is gone");
        }

        var flowsDb = FlowLogService.DatabasePath(agent);
        if (File.Exists(flowsDb))
        {
            using var flows = FlowStore.OpenReadOnly(flowsDb);
            await Write("flows.json", flows.Query(new FlowQuery { SandboxId = s.Id, Limit = MaxRows }), "every connection of the sandbox in the flow log, allowed and refused, with the rule that decided").ConfigureAwait(false);
        }
        else
        {
            notes.Add("no flow log on this host (containment is off, so connections were not recorded)");
        }

        await Write("alerts.json", await watch.AlertsAsync(s.Id, MaxRows, cancellationToken).ConfigureAwait(false), "the watchers' network and exec alerts and the responses taken").ConfigureAwait(false);
        if (File.Exists(watch.MonitorDatabase))
        {
            await using var monitor = await SqliteMonitorStore.OpenAsync(watch.MonitorDatabase, cancellationToken).ConfigureAwait(false);
            var events = await monitor.EventsAsync(new MonitorQuery(s.Id, Limit: MaxRows), cancellationToken).ConfigureAwait(false);
            await Write("execs.json", events.Cast<object>().ToList(), "every program the exec monitor saw the sandbox run (and gaps in its view)").ConfigureAwait(false);
        }

        var rules = Path.Combine(dir, "rules.nft");
        await File.WriteAllTextAsync(rules, await RulesAsync(s, contained, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        files.Add(await DescribeAsync(rules, "the sandbox's nftables chains and sets as the kernel holds them now", cancellationToken).ConfigureAwait(false));

        var console = sandboxes.ConsoleLog(s);
        if (File.Exists(console))
        {
            var copy = Path.Combine(dir, "console.log");
            File.Copy(console, copy);
            files.Add(await DescribeAsync(copy, "what the sandbox's main process wrote to its console", cancellationToken).ConfigureAwait(false));
        }

        var report = new EvidenceReport(s.Id, dir, at, files, notes);
        var manifest = Path.Combine(dir, "manifest.json");
        await File.WriteAllTextAsync(manifest, JsonSerializer.Serialize(report, Json), cancellationToken).ConfigureAwait(false);
        return report with { Files = [.. files, await DescribeAsync(manifest, "this list, with every file's SHA-256", cancellationToken).ConfigureAwait(false)] };
    }

    private ResolvedImage? TryResolveImage(Sandbox s, List<string> notes)
    {
        try
        {
            return images.Resolve(s.ImageDigest);
        }
        catch (InvalidRequestException e)
        {
            notes.Add($"the sandbox's image is no longer on this host ({e.Message}): every changed file is listed as added");
            return null;
        }
    }

    private static IReadOnlyList<EvidenceProcess> Processes(Sandbox s, List<string> notes)
    {
        var pids = Cgroups.Processes(s.CgroupPath);
        if (pids.Count == 0)
        {
            notes.Add("no processes: the sandbox's cgroup is empty or gone");
        }

        if (s.Tier == RuntimeTier.Gvisor)
        {
            notes.Add("gvisor tier: the host sees the sandbox's kernel (runsc sentry and gofer), not the programs inside it; runtime-ps.txt lists those");
        }

        var list = new List<EvidenceProcess>();
        foreach (var pid in pids)
        {
            if (ReadProcess(pid) is { } p)
            {
                list.Add(p);
            }
        }

        return list;
    }

    private static EvidenceProcess? ReadProcess(int pid)
    {
        try
        {
            var proc = Path.Combine("/proc", pid.ToString(CultureInfo.InvariantCulture));
            var status = File.ReadAllLines(Path.Combine(proc, "status"))
                .Select(l => l.Split(':', 2))
                .Where(kv => kv.Length == 2)
                .GroupBy(kv => kv[0])
                .ToDictionary(g => g.Key, g => g.First()[1].Trim(), StringComparer.Ordinal);
            var args = File.ReadAllText(Path.Combine(proc, "cmdline")).Split('\0', StringSplitOptions.RemoveEmptyEntries);
            string? exe;
            try
            {
                exe = new FileInfo(Path.Combine(proc, "exe")).LinkTarget;
            }
            catch (IOException)
            {
                exe = null;
            }

            return new EvidenceProcess(
                pid,
                int.Parse(status.GetValueOrDefault("PPid", "0"), CultureInfo.InvariantCulture),
                status.GetValueOrDefault("State", "?"),
                int.Parse(status.GetValueOrDefault("Uid", "0").Split('\t', ' ')[0], CultureInfo.InvariantCulture),
                status.GetValueOrDefault("Name", "?"),
                args,
                exe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return null; // ended while we looked
        }
    }

    private async Task<string> RulesAsync(Sandbox s, NftablesContainment? contained, CancellationToken cancellationToken)
    {
        if (contained is null)
        {
            return "# containment is off on this host: no per-sandbox rules; the sandbox reaches its host only, nothing is forwarded\n";
        }

        var table = contained.Inner.Rules.Options.Table;
        var text = new System.Text.StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"# rules in force for sandbox {s.Id} ({s.Address}), table inet {table}, read from the kernel\n");
        foreach (var (kind, name) in new[] { ("chain", RuleNames.Chain(s.Id)), ("chain", RuleNames.HostChain(s.Id)), ("set", RuleNames.AuthAddresses(s.Id)), ("set", RuleNames.AuthPorts(s.Id)) })
        {
            IEnumerable<string> args = ["list", kind, "inet", table, name];
            var r = agent.HostNamespace is { } ns
                ? await ProcessRunner.RunAsync("ip", ["netns", "exec", ns, "nft", .. args], timeout: TimeSpan.FromSeconds(30), cancellationToken: cancellationToken).ConfigureAwait(false)
                : await ProcessRunner.RunAsync("nft", args, timeout: TimeSpan.FromSeconds(30), cancellationToken: cancellationToken).ConfigureAwait(false);
            text.Append(r.Succeeded ? r.StandardOutput : $"# {kind} {name}: not present ({r.StandardError.Trim()})\n");
        }

        return text.ToString();
    }

    private static async Task<EvidenceFile> DescribeAsync(string path, string what, CancellationToken cancellationToken)
    {
        await using var stream = File.OpenRead(path);
        var hash = await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false);
        return new EvidenceFile(Path.GetFileName(path), stream.Length, Convert.ToHexStringLower(hash), what);
    }

    private sealed class IpAddressConverter : JsonConverter<System.Net.IPAddress>
    {
        public override System.Net.IPAddress Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            System.Net.IPAddress.Parse(reader.GetString()!);

        public override void Write(Utf8JsonWriter writer, System.Net.IPAddress value, JsonSerializerOptions options) =>
            writer.WriteStringValue(value.ToString());
    }
}
