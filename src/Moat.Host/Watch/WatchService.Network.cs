using System.Threading.Channels;
using Moat.Containment.Flows;
using Moat.Detect.Detectors;
using Moat.Detect.Flows;
using Moat.Detect.Packets;
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
        var events = Channel.CreateUnbounded<FlowEvent>(new UnboundedChannelOptions { SingleReader = true });

        // Under containment a refused connection never reaches conntrack (its first packet is dropped before it is
        // confirmed): the flow log's NFLOG refusals are the detectors' only view of it, each a contact that failed.
        void OnRefused(RefusedAttempt r)
        {
            if (ProtocolOf(r.Protocol) is { } protocol)
            {
                events.Writer.TryWrite(new FlowEvent(r.Time, r.Source, r.SourcePort, r.Destination, r.DestinationPort, protocol, FlowEventKind.Attempt, 0));
                events.Writer.TryWrite(new FlowEvent(r.Time, r.Source, r.SourcePort, r.Destination, r.DestinationPort, protocol, FlowEventKind.Refused, 0));
            }
        }

        var flowLog = _flowLog;
        if (flowLog is not null)
        {
            flowLog.Refused += OnRefused;
        }

        try
        {
            string? nsPath = _agent.HostNamespace is null ? null : Path.Combine("/run/netns", _agent.HostNamespace);
            await using var source = ConntrackEventSource.Open(null, nsPath, _time);
            WatchLog.NetworkStarted(_logger, _agent.HostNamespace ?? "(the agent's own)");
            var pump = PumpAsync(source, events.Writer, cancellationToken);
            var alerts = new List<Alert>();
            await foreach (var e in events.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
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

            await pump.ConfigureAwait(false);
        }
        finally
        {
            if (flowLog is not null)
            {
                flowLog.Refused -= OnRefused;
            }

            await NftAsync($"delete table inet {ConntrackTable}\n", CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>Copies conntrack's events into the detectors' queue; the queue ends with the source (or its failure).</summary>
    private static async Task PumpAsync(ConntrackEventSource source, ChannelWriter<FlowEvent> writer, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var e in source.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                writer.TryWrite(e);
            }

            writer.TryComplete();
        }
        catch (Exception e)
        {
            writer.TryComplete(e);
        }
    }

    private static TransportProtocol? ProtocolOf(byte protocol) => protocol switch
    {
        6 => TransportProtocol.Tcp,
        17 => TransportProtocol.Udp,
        1 => TransportProtocol.Icmp,
        _ => null,
    };

    private async Task NftAsync(string script, CancellationToken cancellationToken)
    {
        string[] args = _agent.HostNamespace is null ? ["nft", "-f", "-"] : ["ip", "netns", "exec", _agent.HostNamespace, "nft", "-f", "-"];
        await ProcessRunner.RunCheckedAsync(args[0], args[1..], script, TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
    }
}
