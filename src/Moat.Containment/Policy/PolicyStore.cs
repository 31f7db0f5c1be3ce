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
    private Timer? _poll;
    private (bool Exists, long Ticks, long Length) _seen;
    private (bool Exists, long Ticks, long Length) _previousTick;
    private int _polling;

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

    /// <summary>How often <see cref="Watch"/> looks at the file.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Reloads whenever the file changes (once it has stayed the same for one poll, so a half-written file is not
    /// read); refusals are logged and change nothing. The file's time stamp and size are polled: an inotify watch
    /// would be on its folder, which also holds the agent's databases, and wake the agent on every write to them.
    /// </summary>
    public void Watch()
    {
        if (Path is null || _poll is not null)
        {
            return;
        }

        _seen = _previousTick = Signature();
        _poll = new Timer(_ => Poll(), null, PollInterval, PollInterval);
    }

    public void Dispose() => _poll?.Dispose();

    private (bool Exists, long Ticks, long Length) Signature()
    {
        var file = new FileInfo(Path!);
        return file.Exists ? (true, file.LastWriteTimeUtc.Ticks, file.Length) : (false, 0, 0);
    }

    private void Poll()
    {
        // A reload slower than the poll interval must not overlap the next poll.
        if (Interlocked.Exchange(ref _polling, 1) == 1)
        {
            return;
        }

        try
        {
            var now = Signature();
            var stable = now == _previousTick;
            _previousTick = now;
            if (stable && now != _seen)
            {
                _seen = now;
                ReloadQuietly();
            }
        }
        finally
        {
            Volatile.Write(ref _polling, 0);
        }
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
        catch (ObjectDisposedException)
        {
            // The agent stopped while this poll ran (a timer callback may outlive Dispose): nothing to put in force.
        }
    }

    [LoggerMessage(EventId = 310, Level = LogLevel.Information, Message = "Policy {Source} reloaded")]
    private static partial void LogReloaded(ILogger logger, string source);

    [LoggerMessage(EventId = 311, Level = LogLevel.Warning, Message = "Policy change refused, the previous policy stays in force: {Reason}")]
    private static partial void LogRefused(ILogger logger, string reason);
}
