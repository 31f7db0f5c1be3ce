using System.Text.RegularExpressions;

namespace Moat.Host.Sandboxes;

/// <summary>What a client asks for: the image, the limits and, optionally, a main command.</summary>
public sealed partial record SandboxSpec
{
    public const long MiB = 1024 * 1024;

    /// <summary>The smallest sandbox disk: an ext4 file system with room for a small upper layer and log.</summary>
    public const long MinDiskBytes = 32 * MiB;

    /// <summary>The largest sandbox disk (16 TiB, ext4's limit with 4 KiB blocks).</summary>
    public const long MaxDiskBytes = 16L * 1024 * 1024 * MiB;

    public string Image { get; init; } = "busybox";

    /// <summary>Optional unique name; the sandbox is also reachable by its id.</summary>
    public string? Name { get; init; }

    /// <summary>Main command. Empty: the sandbox idles and code runs in it through exec.</summary>
    public IReadOnlyList<string> Command { get; init; } = [];

    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();

    public long MemoryBytes { get; init; } = 256 * MiB;

    /// <summary>CPU share as a number of cores (0.5 = half a core), enforced as a CFS quota.</summary>
    public double Cpus { get; init; } = 1.0;

    public int Pids { get; init; } = 512;

    /// <summary>The client this sandbox is handed to (a key fingerprint or a name).</summary>
    public string Client { get; init; } = "local";

    /// <summary>Whether /data is a volume kept across restarts of the sandbox and of the agent.</summary>
    public bool Volume { get; init; } = true;

    /// <summary>
    /// Size of the sandbox's own disk, which holds its root file system's writes, /data and its console log: a sandbox
    /// that fills it gets ENOSPC and nothing else is touched. Null: the host's default (`moat host --disk`).
    /// </summary>
    public long? DiskBytes { get; init; }

    /// <summary>Runtime tier. The client may leave it out (the agent picks it from the client's trust) or ask for a
    /// stronger one; the agent stores the tier it chose here.</summary>
    public RuntimeTier? Tier { get; init; }

    /// <summary>
    /// The trust level the client asks for (trusted, semi-trusted, untrusted); null = what the host's policy gives
    /// the client. A client may ask for less than the policy gives, never more.
    /// </summary>
    public string? Trust { get; init; }

    /// <summary>The client's own IPv4 address: an untrusted sandbox may reach it (and nothing else unless opened).</summary>
    public string? ClientAddress { get; init; }

    public static SandboxSpec Default { get; } = new();

    /// <summary>Checks the spec against what this host can give; throws one clear sentence naming the field.</summary>
    public void Validate(long hostMemoryBytes, int hostCpus)
    {
        if (string.IsNullOrWhiteSpace(Image))
        {
            throw new InvalidRequestException("image must name an image (see 'moat image ls').");
        }

        if (Name is not null && !NamePattern().IsMatch(Name))
        {
            throw new InvalidRequestException(
                $"name '{Printable(Name)}' is not valid: use 1-40 characters from a-z, 0-9, '-' and '_', starting with a letter or digit.");
        }

        // A reference is matched against ids first, then names, then id prefixes of 4 or more digits: a name that
        // could be read as an id would let one client's sandbox answer to a reference meant for another's.
        if (Name is { Length: >= 4 } && IdLike().IsMatch(Name))
        {
            throw new InvalidRequestException(
                $"name '{Name}' is not valid: 4 or more hex digits could be taken for a sandbox id; add a character outside 0-9 and a-f.");
        }

        if (MemoryBytes < 8 * MiB)
        {
            throw new InvalidRequestException($"memory {MemoryBytes / MiB} MiB is too small: a sandbox needs at least 8 MiB.");
        }

        if (MemoryBytes > hostMemoryBytes)
        {
            throw new ResourceExhaustedException(
                $"memory {MemoryBytes / MiB} MiB is more than this host has ({hostMemoryBytes / MiB} MiB).");
        }

        if (DiskBytes is { } disk && (disk < MinDiskBytes || disk > MaxDiskBytes))
        {
            throw new InvalidRequestException(
                $"disk {disk / MiB} MiB is not valid: give at least {MinDiskBytes / MiB} MiB (room for a file system) and at most {MaxDiskBytes / MiB / 1024 / 1024} TiB.");
        }

        if (!(Cpus > 0) || Cpus > hostCpus)
        {
            throw new InvalidRequestException($"cpus {Cpus} is not valid: give a number above 0 and at most {hostCpus} (this host's cores).");
        }

        if (Pids is < 8 or > 65536)
        {
            throw new InvalidRequestException($"pids {Pids} is not valid: give a number from 8 to 65536.");
        }

        foreach (var arg in Command)
        {
            if (arg is null || arg.Contains('\0', StringComparison.Ordinal))
            {
                throw new InvalidRequestException("command arguments must be strings without NUL characters.");
            }
        }

        if (Trust is not null && Trust is not ("trusted" or "semi-trusted" or "untrusted"))
        {
            throw new InvalidRequestException($"trust '{Trust}' is not valid: give trusted, semi-trusted or untrusted.");
        }

        if (ClientAddress is not null
            && (!System.Net.IPAddress.TryParse(ClientAddress, out var clientAddress) || clientAddress.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork))
        {
            throw new InvalidRequestException($"client address '{ClientAddress}' is not valid: give an IPv4 address such as 198.18.5.1.");
        }

        if (Command.Count > 0 && string.IsNullOrEmpty(Command[0]))
        {
            throw new InvalidRequestException("command must start with a program name.");
        }

        foreach (var (k, _) in Env)
        {
            if (k.Length == 0 || k.Contains('=', StringComparison.Ordinal) || k.Contains('\0', StringComparison.Ordinal))
            {
                throw new InvalidRequestException($"environment variable name '{k}' is not valid: no '=' or NUL, not empty.");
            }
        }

        if (string.IsNullOrWhiteSpace(Client) || Client.Length > 200 || Client.Any(char.IsControl))
        {
            throw new InvalidRequestException("client must be a non-empty identifier of at most 200 characters, without control characters.");
        }
    }

    /// <summary>Shows a client's text in a message with control characters escaped, so it cannot forge lines or drive a terminal.</summary>
    internal static string Printable(string text) =>
        text.Any(char.IsControl)
            ? string.Concat(text.Select(c => char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString()))
            : text;

    // \z, not $: '$' also matches before a final newline.
    [GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,39}\\z")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[0-9a-f]+\\z")]
    private static partial Regex IdLike();
}
