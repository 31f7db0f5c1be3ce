using System.Runtime.Versioning;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Moat.Containment.Rules;

namespace Moat.Containment.Policy;

/// <summary>
/// The administrator's policy file and its live reload: a valid file is put in force for every running sandbox in one
/// transaction; a bad file is refused with one sentence and the policy in force stays.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed partial class PolicyStore : IDisposable
{
    private readonly ContainmentRules _rules;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private FileSystemWatcher? _watcher;
    private Timer? _debounce;

    public PolicyStore(string? path, ContainmentRules rules, ILogger? logger = null)
    {
        Path = path;
        _rules = rules ?? throw new ArgumentNullException(nameof(rules));
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Raised after a reload put a new policy in force (by <see cref="Reload"/> or the file watcher).</summary>
    public event Action<AdminPolicy>? Reloaded;

    /// <summary>The policy file, or null when the host runs on the built-in policy.</summary>
    public string? Path { get; }

    /// <summary>Reads the file at start; a missing file means the built-in policy (everyone untrusted).</summary>
    public static AdminPolicy Load(string? path) =>
        path is null || !File.Exists(path) ? AdminPolicy.Default : PolicyParser.ParseFile(path);

    /// <summary>Re-reads the file and puts it in force; throws (leaving the old policy in force) when it is refused.</summary>
    /// <exception cref="ContainmentException">The file is invalid or the kernel refused the rules.</exception>
    public AdminPolicy Reload()
    {
        AdminPolicy policy;
        lock (_lock)
        {
            policy = Load(Path);
            _rules.ReplacePolicy(policy);
        }

        Reloaded?.Invoke(policy);
        return policy;
    }

    /// <summary>Reloads whenever the file changes (after 200 ms of quiet); refusals are logged and change nothing.</summary>
    public void Watch()
    {
        if (Path is null || _watcher is not null)
        {
            return;
        }

        var full = System.IO.Path.GetFullPath(Path);
        _debounce = new Timer(_ => ReloadQuietly(), null, Timeout.Infinite, Timeout.Infinite);
        _watcher = new FileSystemWatcher(System.IO.Path.GetDirectoryName(full)!, System.IO.Path.GetFileName(full))
        {
            NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.CreationTime,
        };
        _watcher.Changed += (_, _) => _debounce.Change(200, Timeout.Infinite);
        _watcher.Created += (_, _) => _debounce.Change(200, Timeout.Infinite);
        _watcher.Renamed += (_, _) => _debounce.Change(200, Timeout.Infinite);
        _watcher.EnableRaisingEvents = true;
    }

    public void Dispose()
    {
        _watcher?.Dispose();
        _debounce?.Dispose();
    }

    private void ReloadQuietly()
    {
        try
        {
            var policy = Reload();
            LogReloaded(_logger, policy.Source);
        }
        catch (ContainmentException e)
        {
            LogRefused(_logger, e.Message);
        }
    }

    [LoggerMessage(EventId = 310, Level = LogLevel.Information, Message = "Policy {Source} reloaded")]
    private static partial void LogReloaded(ILogger logger, string source);

    [LoggerMessage(EventId = 311, Level = LogLevel.Warning, Message = "Policy change refused, the previous policy stays in force: {Reason}")]
    private static partial void LogRefused(ILogger logger, string reason);
}
