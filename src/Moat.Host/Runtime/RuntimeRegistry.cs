using Microsoft.Extensions.Logging;
using Moat.Host.Sandboxes;

namespace Moat.Host.Runtime;

/// <summary>Whether a tier can run sandboxes on this host, with which runtime, or why not.</summary>
public sealed record TierAvailability(RuntimeTier Tier, bool Available, string Runtime, string Detail)
{
    /// <summary>The runtime's version line (e.g. "runc version 1.1.5"), when it could be read.</summary>
    public string? Version { get; init; }
}

/// <summary>
/// The OCI runtime of each runtime tier on this host, found once at start: runc for container, runsc for gvisor
/// (when installed), none for vm (see docs/tiers.md). Asking for an unavailable tier is one clear sentence.
/// </summary>
public sealed partial class RuntimeRegistry
{
    private readonly Dictionary<RuntimeTier, IOciRuntime> _runtimes;
    private readonly Dictionary<RuntimeTier, TierAvailability> _status;

    internal RuntimeRegistry(IReadOnlyDictionary<RuntimeTier, IOciRuntime> runtimes, IEnumerable<TierAvailability> status)
    {
        _runtimes = new Dictionary<RuntimeTier, IOciRuntime>(runtimes);
        _status = status.ToDictionary(s => s.Tier);
    }

    /// <summary>Probes every tier: runc as configured, runsc on PATH, KVM for the vm tier.</summary>
    internal static async Task<RuntimeRegistry> ProbeAsync(string stateDir, string runc, TierOptions tiers, CancellationToken cancellationToken = default)
    {
        var runtimes = new Dictionary<RuntimeTier, IOciRuntime>
        {
            [RuntimeTier.Container] = new RuncRuntime(Path.Combine(stateDir, "runtime"), runc),
        };
        // Same probe as runsc's: the version is what an exploit for the runtime is written against (placement reads it).
        var (runcVersion, _) = await RunscRuntime.ProbeAsync(runc, cancellationToken).ConfigureAwait(false);
        var status = new List<TierAvailability> { new(RuntimeTier.Container, true, Path.GetFileName(runc), "shares the host kernel") { Version = runcVersion } };

        var (version, reason) = await RunscRuntime.ProbeAsync(tiers.Runsc, cancellationToken).ConfigureAwait(false);
        if (version is not null)
        {
            runtimes[RuntimeTier.Gvisor] = new RunscRuntime(Path.Combine(stateDir, "runtime-gvisor"), NetnsOf, tiers.Runsc, tiers.RunscPlatform, Path.Combine(stateDir, RunscRuntime.PodInitConfigFile));
            status.Add(new(RuntimeTier.Gvisor, true, Path.GetFileName(tiers.Runsc), $"{version}, platform {tiers.RunscPlatform}, netstack") { Version = version });
        }
        else
        {
            status.Add(new(RuntimeTier.Gvisor, false, Path.GetFileName(tiers.Runsc), reason!));
        }

        status.Add(new(RuntimeTier.Vm, false, "qemu-system-x86_64", VmTierReason()));
        return new RuntimeRegistry(runtimes, status);
    }

    /// <summary>Every tier and whether it is available here.</summary>
    public IReadOnlyList<TierAvailability> Status => RuntimeTiers.All.Select(t => _status[t]).ToList();

    /// <summary>The runtimes this host has, one per available tier.</summary>
    public IReadOnlyDictionary<RuntimeTier, IOciRuntime> Available => _runtimes;

    public bool IsAvailable(RuntimeTier tier) => _runtimes.ContainsKey(tier);

    /// <summary>The runtime of a tier; throws one sentence naming the tier and why it is unavailable.</summary>
    public IOciRuntime For(RuntimeTier tier) =>
        _runtimes.TryGetValue(tier, out var r) ? r : throw new ResourceExhaustedException(
            $"runtime tier '{tier.Name()}' is unavailable on this host: {_status[tier].Detail}.");

    /// <summary>Says at start which tiers this host runs and, for each it cannot, why.</summary>
    public void Report(ILogger logger)
    {
        foreach (var s in Status)
        {
            if (s.Available)
            {
                LogTierAvailable(logger, s.Tier.Name(), s.Runtime, s.Detail);
            }
            else
            {
                LogTierUnavailable(logger, s.Tier.Name(), s.Detail);
            }
        }
    }

    [LoggerMessage(EventId = 400, Level = LogLevel.Information, Message = "Runtime tier {Tier}: {Runtime} ({Detail})")]
    private static partial void LogTierAvailable(ILogger logger, string tier, string runtime, string detail);

    [LoggerMessage(EventId = 401, Level = LogLevel.Warning, Message = "Runtime tier {Tier} is unavailable: {Reason}")]
    private static partial void LogTierUnavailable(ILogger logger, string tier, string reason);

    internal static string NetnsOf(string id) => Path.Combine("/run/netns", "moat-" + id);

    /// <summary>Why the vm tier cannot run here (measured in docs/tiers.md); the tier's interface stays in place.</summary>
    private static string VmTierReason() =>
        !File.Exists("/dev/kvm")
            ? "unavailable on this machine: /dev/kvm does not exist (no KVM for QEMU -M microvm or gVisor's kvm platform)"
            : "unavailable on this machine: the vm tier's runtime is not built yet (see docs/tiers.md)";
}
