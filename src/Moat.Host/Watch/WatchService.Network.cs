using Moat.Detect.Detectors;
using Moat.Detect.Kernel;
using Moat.Host.Runtime;

namespace Moat.Host.Watch;

public sealed partial class WatchService
{
    /// <summary>nftables table whose only rule makes the host namespace track connections (conntrack runs only where a rule uses it).</summary>
    internal const string ConntrackTable = "moat_watch";

    private long _flowEvents;
    private long _networkAlerts;

    private async Task RunNetworkAsync(CancellationToken cancellationToken)
    {
        await NftAsync($$"""
            add table inet {{ConntrackTable}}
            flush table inet {{ConntrackTable}}
            add chain inet {{ConntrackTable}} track { type filter hook prerouting priority -150; policy accept; }
            add rule inet {{ConntrackTable}} track ct state new counter
            """, cancellationToken).ConfigureAwait(false);
        try
        {
            string? nsPath = _agent.HostNamespace is null ? null : Path.Combine("/run/netns", _agent.HostNamespace);
            await using var source = ConntrackEventSource.Open(null, nsPath, _time);
            WatchLog.NetworkStarted(_logger, _agent.HostNamespace ?? "(the agent's own)");
            var alerts = new List<Alert>();
            await foreach (var e in source.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                // Only flows a sandbox started: inbound connections to a sandbox are its peers' behaviour, not its own.
                if (_directory.ByAddress(e.Source) is not { } sandbox)
                {
                    continue;
                }

                Interlocked.Increment(ref _flowEvents);
                var engine = _engines.GetOrAdd(sandbox.Id, _ => new DetectionEngine(_options.Detectors));
                alerts.Clear();
                engine.Observe(e with { SandboxId = sandbox.Id }, alerts);
                foreach (var alert in alerts)
                {
                    await RespondAsync(alert with { SandboxId = sandbox.Id }, sandbox, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            await NftAsync($"delete table inet {ConntrackTable}\n", CancellationToken.None).ConfigureAwait(false);
        }
    }

    private async Task NftAsync(string script, CancellationToken cancellationToken)
    {
        string[] args = _agent.HostNamespace is null ? ["nft", "-f", "-"] : ["ip", "netns", "exec", _agent.HostNamespace, "nft", "-f", "-"];
        await ProcessRunner.RunCheckedAsync(args[0], args[1..], script, TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
    }
}
