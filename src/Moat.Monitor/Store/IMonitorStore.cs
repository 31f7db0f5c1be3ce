namespace Moat.Monitor.Store;

/// <summary>Which stored events to read.</summary>
public sealed record MonitorQuery(string? SandboxId = null, DateTimeOffset? Since = null, int Limit = 1000);

/// <summary>Where monitor records, gaps and alerts are kept; the control plane's store implements it too.</summary>
public interface IMonitorStore : IAsyncDisposable
{
    Task AppendAsync(MonitorEvent monitorEvent, CancellationToken cancellationToken = default);

    /// <summary>Appends several events in order; a store that can makes it one transaction (one commit for a burst).</summary>
    async Task AppendManyAsync(IReadOnlyList<MonitorEvent> monitorEvents, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(monitorEvents);
        foreach (var e in monitorEvents)
        {
            await AppendAsync(e, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Events in the order they were appended (oldest first), at most <see cref="MonitorQuery.Limit"/>.</summary>
    Task<IReadOnlyList<MonitorEvent>> EventsAsync(MonitorQuery query, CancellationToken cancellationToken = default);
}
