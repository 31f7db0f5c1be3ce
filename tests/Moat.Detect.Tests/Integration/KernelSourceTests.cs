using System.Runtime.Versioning;
using Moat.Detect.Detectors;
using Moat.Detect.Flows;
using Microsoft.Extensions.Logging.Abstractions;
using Moat.Detect.Kernel;
using Moat.Detect.Response;

namespace Moat.Detect.Tests.Integration;

/// <summary>Real conntrack and NFLOG events from namespaces the test builds: refused connects are seen and flagged by TRW.</summary>
[Trait("Category", "Integration")]
[SupportedOSPlatform("linux")]
[Collection(nameof(KernelSourceTests))]
public sealed class KernelSourceTests(NamespacePair namespaces) : IClassFixture<NamespacePair>
{
    // A guard against a hung test, not a measurement: the events arrive within milliseconds.
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Conntrack_RefusedConnectsToNewHosts_AreFlaggedByTrw()
    {
        // Conntrack only runs in a namespace where some rule needs it.
        await namespaces.LoadClientRulesAsync("""
            table inet mtdct {
              chain out { type filter hook output priority 0; ct state new counter; }
            }
            """);
        await using var source = ConntrackEventSource.Open("sandbox-ct", namespaces.ClientPath);

        await namespaces.ConnectFromClientAsync(NamespacePair.ServerAddresses.Take(6), 81);

        var (events, alert) = await CollectUntilTrwAlertAsync(source.ReadAllAsync);
        Assert.NotNull(alert);
        Assert.Equal(NamespacePair.ClientAddress, alert.Source.ToString());
        Assert.Equal("sandbox-ct", alert.SandboxId);
        Assert.Contains(events, e => e.Kind == FlowEventKind.Attempt && e.DestinationPort == 81 && e.SandboxId == "sandbox-ct");
        Assert.True(events.Count(e => e.Kind == FlowEventKind.Refused) >= 4);
    }

    [Fact]
    public async Task Nflog_LoggedSynsAndResets_AreTrackedIntoRefusedFlows()
    {
        await namespaces.LoadClientRulesAsync("""
            table inet mtdlog {
              chain out { type filter hook output priority 0; ip daddr 198.19.252.0/24 tcp dport 82 log group 7; }
              chain in { type filter hook input priority 0; ip saddr 198.19.252.0/24 tcp sport 82 log group 7; }
            }
            """);
        await using var source = NflogEventSource.Open(7, "sandbox-log", namespaces.ClientPath);

        await namespaces.ConnectFromClientAsync(NamespacePair.ServerAddresses.Take(6), 82);

        var (events, alert) = await CollectUntilTrwAlertAsync(source.ReadAllAsync);
        Assert.NotNull(alert);
        Assert.Equal(NamespacePair.ClientAddress, alert.Source.ToString());
        Assert.Contains(events, e => e.Kind == FlowEventKind.Packet && e.Flags.HasFlag(Moat.Detect.Packets.TcpFlags.Rst));
    }

    [Fact]
    public async Task Conntrack_ThroughEngineAndPolicy_QuarantinesAnUntrustedScanner()
    {
        await namespaces.LoadClientRulesAsync("""
            table inet mtdchain {
              chain out { type filter hook output priority 0; ct state new counter; }
            }
            """);
        await using var source = ConntrackEventSource.Open("sandbox-chain", namespaces.ClientPath);
        var actuator = new RecordingActuator();
        var responses = new ResponseEngine(ResponsePolicy.Default, actuator, TimeProvider.System, NullLogger<ResponseEngine>.Instance);
        var engine = new DetectionEngine(DetectorOptions.Default, [AlertKinds.ThresholdRandomWalk]);
        using var guard = new CancellationTokenSource(Guard);

        var pump = engine.RunAsync(
            source.ReadAllAsync(guard.Token),
            async (alert, ct) =>
            {
                await responses.RespondAsync(alert, alert.SandboxId!, TrustLevel.Untrusted, ct);
                await guard.CancelAsync(); // One response is all this test waits for.
            },
            guard.Token);
        await namespaces.ConnectFromClientAsync(NamespacePair.ServerAddresses.Skip(2).Take(6), 83);
        try
        {
            await pump;
        }
        catch (OperationCanceledException)
        {
            // Ended by the alert handler, or by the guard; the assertions tell which.
        }

        var record = Assert.Single(responses.Records);
        Assert.Equal(ResponseAction.Quarantine, record.Action);
        Assert.Equal("sandbox-chain", record.SandboxId);
        Assert.Equal(AlertKinds.ThresholdRandomWalk, record.Alert.Detector);
        Assert.Equal([record.Id], actuator.Applied);
    }

    [Fact]
    public async Task ContainmentQueue_DropsNewContactsOnceTheThresholdIsReached()
    {
        // The NFQUEUE xtables target (iptables-nft) because this kernel is built without nft's "queue" expression.
        await namespaces.ClientIptablesAsync("-A", "OUTPUT", "-p", "tcp", "-d", "198.19.252.0/24", "--dport", "84", "-j", "NFQUEUE", "--queue-num", "5");
        await namespaces.ClientIptablesAsync("-A", "INPUT", "-p", "tcp", "-s", "198.19.252.0/24", "--sport", "84", "-j", "NFQUEUE", "--queue-num", "5");
        var options = DetectorOptions.Default with { ContainmentThreshold = 3 };
        await using var queue = ContainmentQueue.Open(5, options, "sandbox-q", namespaces.ClientPath);

        // Nothing listens on port 84: a passed SYN is refused at once (status 1), a dropped one times out (124).
        string outcomes = await namespaces.ConnectOutcomesFromClientAsync(NamespacePair.ServerAddresses.Take(6), 84);

        Assert.Equal("1 1 1 124 124 124", outcomes);
        Assert.True(queue.Blocked >= 3, $"blocked {queue.Blocked}");
        using var guard = new CancellationTokenSource(Guard);
        await using var alerts = queue.ReadAlertsAsync(guard.Token).GetAsyncEnumerator(guard.Token);
        Assert.True(await alerts.MoveNextAsync());
        Assert.Equal(AlertKinds.ScanContainment, alerts.Current.Detector);
        Assert.Equal("sandbox-q", alerts.Current.SandboxId);
    }

    private static async Task<(List<FlowEvent> Events, Alert? Alert)> CollectUntilTrwAlertAsync(Func<CancellationToken, IAsyncEnumerable<FlowEvent>> read)
    {
        var engine = new DetectionEngine(DetectorOptions.Default, [AlertKinds.ThresholdRandomWalk]);
        var events = new List<FlowEvent>();
        var alerts = new List<Alert>();
        using var guard = new CancellationTokenSource(Guard);
        try
        {
            await foreach (var e in read(guard.Token))
            {
                events.Add(e);
                engine.Observe(e, alerts);
                if (alerts.Count > 0)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Fall through: the assertions report what did arrive.
        }

        return (events, alerts.FirstOrDefault());
    }

    private sealed class RecordingActuator : IResponseActuator
    {
        public List<long> Applied { get; } = [];

        public Task ApplyAsync(ResponseRecord record, CancellationToken cancellationToken = default)
        {
            Applied.Add(record.Id);
            return Task.CompletedTask;
        }

        public Task RevertAsync(ResponseRecord record, CancellationToken cancellationToken = default) => Task.CompletedTask;
    }
}
