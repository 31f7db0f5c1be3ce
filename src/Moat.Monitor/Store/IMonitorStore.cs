namespace Moat.Monitor.Store;

/// <summary>Which stored events to read.</summary>
public sealed record MonitorQuery(string? SandboxId = null, DateTimeOffset? Since = null, int Limit = 1000);

/// <summary>Where monitor records, gaps and alerts are kept; the control plane's store implements it too.</summary>
public interface IMonitorStore : IAsyncDisposable
{
    Task AppendAsync(MonitorEvent monitorEvent, CancellationToken cancellationToken = default);

    /// <summary>Events in the order they were appended (oldest first), at most <see cref="MonitorQuery.Limit"/>.</summary>
    Task<IReadOnlyList<MonitorEvent>> EventsAsync(MonitorQuery query, CancellationToken cancellationToken = default);
}
