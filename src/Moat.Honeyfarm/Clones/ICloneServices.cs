using Moat.Host.Rootfs;
using Moat.Linux.Namespaces;

namespace Moat.Honeyfarm.Clones;

/// <summary>
/// What runs inside a clone's network namespace: the personality's services, started before the clone is claimed,
/// and at retirement the account of what the clone became.
/// </summary>
internal interface ICloneServices : IAsyncDisposable
{
    /// <summary>How the services run ("in-process responder", "runc container").</summary>
    string Kind { get; }

    /// <summary>Connections and datagrams received, when the services can count them (-1 when they cannot).</summary>
    long Contacts { get; }

    /// <summary>The clone was given an address in a universe: the services learn how to describe themselves.</summary>
    void Bound(string describe);

    /// <summary>
    /// Stops the services. A clone whose state changed (files, processes left running, programs the image lacks,
    /// or <paramref name="attemptedOutbound"/>: it started a flow of its own) is kept for analysis and returned;
    /// an untouched one is discarded (null).
    /// </summary>
    Task<KeptClone?> RetireAsync(string describe, bool attemptedOutbound, CancellationToken cancellationToken);
}

/// <summary>Starts a clone's services in its (address-less) namespace.</summary>
internal delegate Task<ICloneServices> CloneServicesFactory(NetworkNamespace ns, string name, Personality personality, CloneIdentity identity, Func<string> describe, CancellationToken cancellationToken);

/// <summary>
/// A retired clone kept for analysis: where its evidence is, what changed (files, processes left running) and what
/// it ran after it became ready (<see cref="Execs"/>; <see cref="ExecMonitoring"/> says why not, when it could not
/// be watched).
/// </summary>
public sealed record KeptClone(
    string Name,
    string Describe,
    string Folder,
    DateTimeOffset KeptAt,
    IReadOnlyList<FileChange> Files,
    IReadOnlyList<string> Processes,
    IReadOnlyList<CloneExec>? Execs = null,
    string? ExecMonitoring = null,
    bool AttemptedOutbound = false);

/// <summary>One program a clone ran, as the exec monitor recorded it from outside the clone.</summary>
public sealed record CloneExec(DateTimeOffset Time, string? Path, IReadOnlyList<string> Argv, string? Sha256, bool? Drift, string Verification);
