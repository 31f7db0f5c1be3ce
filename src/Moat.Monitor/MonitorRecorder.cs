using System.Threading.Channels;
using Moat.Monitor.Rules;
using Moat.Monitor.Store;

namespace Moat.Monitor;

/// <summary>Moves the monitor's events (<see cref="ExecMonitor.Events"/>) into a store, adding the alerts the rules raise for each exec.</summary>
public static class MonitorRecorder
{
    public static async Task RunAsync(ChannelReader<MonitorEvent> events, IMonitorStore store, RuleSet rules, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(rules);
        await foreach (var e in events.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            await store.AppendAsync(e, cancellationToken).ConfigureAwait(false);
            if (e is ExecRecord exec)
            {
                foreach (var alert in rules.Evaluate(exec))
                {
                    await store.AppendAsync(alert, cancellationToken).ConfigureAwait(false);
                }
            }
        }
    }
}
