using System.Globalization;
using Moat.Host.Runtime;

namespace Moat.Host.Agent;

/// <summary>
/// What an exploit is written against on this host: kernel release, OS, CPU model and the runtime behind each tier
/// with its version. Published in the host's status and presence; relocation's placement (Δ) reads it.
/// </summary>
/// <param name="Kernel">Kernel release, e.g. "6.18.0-1-amd64".</param>
/// <param name="Os">OS as ID-VERSION_ID of os-release, e.g. "debian-12".</param>
/// <param name="Cpu">CPU model name, e.g. "Intel(R) Xeon(R) ...".</param>
/// <param name="Runtimes">Each available tier and its runtime's version line, e.g. container → "runc version 1.1.5".</param>
public sealed record HostFeatures(string Kernel, string Os, string Cpu, IReadOnlyDictionary<string, string> Runtimes)
{
    /// <summary>Longest value kept from any source (a peer's presence included).</summary>
    public const int MaxLength = 120;

    /// <summary>Reads this machine's features; what cannot be read is "unknown".</summary>
    public static HostFeatures Read(IEnumerable<TierAvailability> tiers)
    {
        ArgumentNullException.ThrowIfNull(tiers);
        var kernel = ReadOrNull("/proc/sys/kernel/osrelease")?.Trim();
        var os = ReadOrNull("/etc/os-release") is { } release ? OsOf(release) : null;
        var cpu = ReadOrNull("/proc/cpuinfo") is { } info ? CpuOf(info) : null;
        var runtimes = tiers.Where(t => t.Available)
            .ToDictionary(t => t.Tier.ToString().ToLowerInvariant(), t => Clean(t.Version ?? t.Runtime), StringComparer.Ordinal);
        return new HostFeatures(Clean(kernel), Clean(os), Clean(cpu), runtimes);
    }

    /// <summary>"ID-VERSION_ID" of an os-release file (e.g. "debian-12"); null when it names neither.</summary>
    public static string? OsOf(string osRelease)
    {
        ArgumentNullException.ThrowIfNull(osRelease);
        string? id = null, version = null;
        foreach (var line in osRelease.Split('\n'))
        {
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                continue;
            }

            var value = line[(eq + 1)..].Trim().Trim('"', '\'');
            switch (line[..eq].Trim())
            {
                case "ID":
                    id = value;
                    break;
                case "VERSION_ID":
                    version = value;
                    break;
            }
        }

        return id is null ? null : version is null ? id : $"{id}-{version}";
    }

    /// <summary>The first "model name" of a /proc/cpuinfo text (x86), else its "CPU part"/"Hardware" (arm); null when none.</summary>
    public static string? CpuOf(string cpuinfo)
    {
        ArgumentNullException.ThrowIfNull(cpuinfo);
        string? fallback = null;
        foreach (var line in cpuinfo.Split('\n'))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            var key = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            if (key == "model name" && value.Length > 0)
            {
                return value;
            }

            if (fallback is null && key is "Hardware" or "CPU part" && value.Length > 0)
            {
                fallback = value;
            }
        }

        return fallback;
    }

    /// <summary>A value as published: printable ASCII, one line, at most <see cref="MaxLength"/> characters; "unknown" when empty.</summary>
    public static string Clean(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return "unknown";
        }

        var kept = new string([.. value.Where(c => c is >= ' ' and <= '~').Take(MaxLength)]).Trim();
        return kept.Length == 0 ? "unknown" : kept;
    }

    private static string? ReadOrNull(string path)
    {
        try
        {
            using var reader = new StreamReader(path);
            var buffer = new char[64 * 1024];
            var n = reader.ReadBlock(buffer, 0, buffer.Length);
            return new string(buffer, 0, n);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>For logs and the CLI: "debian-12, kernel 6.18, Intel ..., container: runc version 1.1.5".</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Os}, kernel {Kernel}, {Cpu}{string.Concat(Runtimes.Select(r => $", {r.Key}: {r.Value}"))}");
}
