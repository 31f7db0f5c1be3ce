using System.Globalization;
using System.Net;
using Moat.Detect.Flows;
using Moat.Detect.Packets;

namespace Moat.Detect.Detectors;

/// <summary>
/// Address, port and random scan detection in the manner of Zeek's "simple scan" package (NCSA): failed TCP attempts
/// are collected per scanner as unique (host, port) pairs until the scanner is quiet for the scan timeout; crossing the
/// (local / remote, darknet or not) pair threshold, or the per-port "knock-knock" threshold for remote scanners,
/// raises one alert whose kind says whether one port (address scan), one host (port scan) or both varied.
/// </summary>
internal sealed class ZeekScanDetector : IFlowDetector
{
    private readonly DetectorOptions _options;
    private readonly BoundedTable<IPAddress, ScanInfo> _attacks;
    private readonly Dictionary<IPAddress, DateTimeOffset> _knownScanners = [];

    internal ZeekScanDetector(DetectorOptions options)
    {
        _options = options;
        _attacks = new(options.MaxTrackedSources, _ => new ScanInfo());
    }

    public string Name => "scan";

    public void Observe(FlowEvent flowEvent, List<Alert> alerts)
    {
        // Failed contacts of TCP (SYN or a probe that opens no connection), UDP and other IP protocols; a (host,
        // protocol, port) triple is one attempt, the protocol number standing in for the port where there is none.
        if (flowEvent.Protocol is not (TransportProtocol.Tcp or TransportProtocol.Udp or TransportProtocol.Other)
            || flowEvent.Kind is not (FlowEventKind.TimedOut or FlowEventKind.Refused))
        {
            return;
        }

        var scanner = flowEvent.Source;
        var now = flowEvent.Time;
        if (_knownScanners.TryGetValue(scanner, out var until))
        {
            if (now < until)
            {
                return;
            }

            _knownScanners.Remove(scanner);
        }

        var info = _attacks.Get(scanner);
        if (info.Attempts.Count > 0 && now - info.LastTouched > _options.ScanTimeout)
        {
            info.Reset();
        }

        if (info.Attempts.Count == 0)
        {
            info.FirstSeen = now;
        }

        info.LastTouched = now;
        byte protocol = flowEvent.Protocol switch
        {
            TransportProtocol.Tcp => 6,
            TransportProtocol.Udp => 17,
            _ => flowEvent.IpProtocol,
        };
        var port = new Service(protocol, flowEvent.Protocol == TransportProtocol.Other ? 0 : flowEvent.DestinationPort);
        var attempt = (flowEvent.Destination, port);
        if (!info.Attempts.Add(attempt))
        {
            return;
        }

        info.PortCounts[port] = info.PortCounts.GetValueOrDefault(port) + 1;
        info.Probes[flowEvent.Probe] = info.Probes.GetValueOrDefault(flowEvent.Probe) + 1;
        if (info.DarkHosts.Count < _options.DarkHostThreshold && DetectorOptions.Contains(_options.DarknetNetworks, attempt.Destination))
        {
            info.DarkHosts.Add(attempt.Destination);
        }

        bool isLocal = DetectorOptions.Contains(_options.LocalNetworks, scanner);
        bool darknetScan = info.DarkHosts.Count >= _options.DarkHostThreshold;
        int threshold = (darknetScan, isLocal) switch
        {
            (true, true) => _options.LocalScanThresholdWithDarknetHits,
            (true, false) => _options.ScanThresholdWithDarknetHits,
            (false, true) => _options.LocalScanThreshold,
            (false, false) => _options.ScanThreshold,
        };
        bool isScan = info.Attempts.Count >= threshold;
        bool knockKnock = !isLocal
            && info.PortCounts[port] >= (darknetScan ? _options.KnockKnockThresholdWithDarknetHits : _options.KnockKnockThreshold);
        if (!isScan && !knockKnock)
        {
            return;
        }

        alerts.Add(Describe(scanner, info, now, isLocal, knockKnock, flowEvent.SandboxId));
        _attacks.Remove(scanner);
        _knownScanners[scanner] = now + _options.ScanSuppression;
        if (_knownScanners.Count > _options.MaxTrackedSources)
        {
            foreach (var (key, expiry) in _knownScanners)
            {
                if (expiry <= now)
                {
                    _knownScanners.Remove(key);
                }
            }
        }
    }

    private static Alert Describe(IPAddress scanner, ScanInfo info, DateTimeOffset now, bool isLocal, bool knockKnock, string? sandboxId)
    {
        var victims = info.Attempts.Select(a => a.Host).Distinct().ToList();
        var ports = info.Attempts.Select(a => a.Port).Distinct().Order().ToList();
        string kind;
        string what;
        string target;
        int? singlePort = null;
        if (ports.Count == 1)
        {
            kind = AlertKinds.AddressScan;
            what = $"{victims.Count} unique hosts on {(ports[0].IsProtocol ? "" : "port ")}{ports[0]}";
            target = $"{(ports[0].IsProtocol ? "" : "port ")}{ports[0]}";
            singlePort = ports[0].IsProtocol ? null : ports[0].Port;
        }
        else if (victims.Count == 1)
        {
            kind = AlertKinds.PortScan;
            what = $"{ports.Count} unique {(ports.All(p => p.IsProtocol) ? "protocols" : "ports")} on host {victims[0]}";
            target = victims[0].ToString();
        }
        else if (ports.Count <= 5)
        {
            kind = AlertKinds.AddressScan;
            what = $"{victims.Count} unique hosts on ports {string.Join(", ", ports)}";
            target = $"{victims.Count} hosts";
        }
        else if (victims.Count <= 5)
        {
            kind = AlertKinds.PortScan;
            what = $"{ports.Count} unique ports on hosts {string.Join(", ", victims)}";
            target = string.Join(", ", victims);
        }
        else
        {
            kind = AlertKinds.RandomScan;
            what = $"{victims.Count} hosts on {ports.Count} ports";
            target = $"{victims.Count} hosts";
        }

        long seconds = Math.Max(0, (long)(now - info.FirstSeen).TotalSeconds);
        string message = string.Create(CultureInfo.InvariantCulture, $"{scanner} scanned at least {what} in {seconds / 60}m{seconds % 60}s");
        if (knockKnock)
        {
            message = "kk: " + message;
        }

        // The technique the scan used most; an ordinary (SYN / connect, or conntrack) scan keeps the peer's wording.
        var probe = info.Probes.Count == 0 ? ScanProbe.None : info.Probes.MaxBy(p => p.Value).Key;
        if (ScanProbes.Technique(probe) is { } technique)
        {
            message += $" ({technique})";
        }

        return new Alert(
            kind,
            scanner,
            target,
            new Dictionary<string, long>
            {
                ["hosts"] = victims.Count,
                ["ports"] = ports.Count,
                ["attempts"] = info.Attempts.Count,
                ["darknetHosts"] = info.DarkHosts.Count,
                ["local"] = isLocal ? 1 : 0,
            },
            now,
            message)
        { Port = singlePort, SandboxId = sandboxId, Technique = probe == ScanProbe.None ? null : ScanProbes.Name(probe) };
    }

    /// <summary>A port of TCP or UDP ("80/tcp"), or an IP protocol without ports ("protocol 47").</summary>
    private readonly record struct Service(byte Protocol, int Port) : IComparable<Service>
    {
        public bool IsProtocol => Protocol is not (6 or 17);

        public int CompareTo(Service other) => (Protocol, Port).CompareTo((other.Protocol, other.Port));

        public override string ToString() => Protocol switch
        {
            6 => string.Create(CultureInfo.InvariantCulture, $"{Port}/tcp"),
            17 => string.Create(CultureInfo.InvariantCulture, $"{Port}/udp"),
            _ => string.Create(CultureInfo.InvariantCulture, $"protocol {Protocol}"),
        };
    }

    private sealed class ScanInfo
    {
        public DateTimeOffset FirstSeen { get; set; }

        public DateTimeOffset LastTouched { get; set; }

        public HashSet<(IPAddress Host, Service Port)> Attempts { get; } = [];

        public Dictionary<Service, int> PortCounts { get; } = [];

        public Dictionary<ScanProbe, int> Probes { get; } = [];

        public HashSet<IPAddress> DarkHosts { get; } = [];

        public void Reset()
        {
            Attempts.Clear();
            PortCounts.Clear();
            Probes.Clear();
            DarkHosts.Clear();
        }
    }
}
