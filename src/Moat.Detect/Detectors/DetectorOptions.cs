using System.Net;

namespace Moat.Detect.Detectors;

/// <summary>Every detector threshold in one place; the defaults are the ones documented in docs/detection.md.</summary>
public sealed record DetectorOptions
{
    public static DetectorOptions Default { get; } = new();

    // --- Threshold random walk (Jung, Paxson, Berger, Balakrishnan 2004) ---

    /// <summary>θ0: probability that a benign host's first contact succeeds.</summary>
    public double TrwTheta0 { get; init; } = 0.8;

    /// <summary>θ1: probability that a scanner's first contact succeeds.</summary>
    public double TrwTheta1 { get; init; } = 0.2;

    /// <summary>P_D: wanted detection probability; with P_F it gives η1 = P_D / P_F.</summary>
    public double TrwDetectionProbability { get; init; } = 0.99;

    /// <summary>P_F: tolerated false-positive probability; η0 = (1 − P_D) / (1 − P_F).</summary>
    public double TrwFalsePositiveProbability { get; init; } = 0.01;

    /// <summary>Destinations remembered per source to tell first contacts; beyond it the oldest are forgotten.</summary>
    public int TrwMaxContactsPerSource { get; init; } = 65_536;

    // --- Fast scan containment (Weaver, Staniford, Paxson 2004) ---

    /// <summary>T: a source whose (failed − successful) first-contact count reaches this is blocked from new contacts.</summary>
    public int ContainmentThreshold { get; init; } = 5;

    /// <summary>C_min: the count never falls below this, so a long benign history cannot hide a later scan.</summary>
    public int ContainmentMinimum { get; init; } = -5;

    /// <summary>C_max: the count never rises above this, so a blocked host can recover by decay.</summary>
    public int ContainmentMaximum { get; init; } = int.MaxValue;

    /// <summary>Every interval each positive count falls by one (Snabb's age_interval).</summary>
    public TimeSpan ContainmentDecayInterval { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The inside network: unsolicited non-SYN TCP packets from outside to these addresses are dropped. Empty turns that hygiene rule off.</summary>
    public IReadOnlyList<IPNetwork> ProtectedNetworks { get; init; } = [];

    // --- Address / port scan (Zeek "simple scan", NCSA) ---

    /// <summary>Failed attempts of a scanner are kept until it is quiet for this long (scan_timeout).</summary>
    public TimeSpan ScanTimeout { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>After a scan alert the scanner is not reported again for this long.</summary>
    public TimeSpan ScanSuppression { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Darknet hosts hit before a scan counts as a darknet scan (dark_host_threshold).</summary>
    public int DarkHostThreshold { get; init; } = 3;

    /// <summary>Unique failed host+port pairs for a remote scanner (scan_threshold).</summary>
    public int ScanThreshold { get; init; } = 25;

    /// <summary>Unique failed host+port pairs for a local scanner (local_scan_threshold).</summary>
    public int LocalScanThreshold { get; init; } = 250;

    /// <summary>As <see cref="ScanThreshold"/> once darknet hosts were hit.</summary>
    public int ScanThresholdWithDarknetHits { get; init; } = 10;

    /// <summary>As <see cref="LocalScanThreshold"/> once darknet hosts were hit.</summary>
    public int LocalScanThresholdWithDarknetHits { get; init; } = 100;

    /// <summary>Unique hosts failed on one port by a remote scanner ("knock-knock").</summary>
    public int KnockKnockThreshold { get; init; } = 20;

    /// <summary>As <see cref="KnockKnockThreshold"/> once darknet hosts were hit.</summary>
    public int KnockKnockThresholdWithDarknetHits { get; init; } = 3;

    /// <summary>Site::local_nets: scanners inside are "local" and get the local thresholds.</summary>
    public IReadOnlyList<IPNetwork> LocalNetworks { get; init; } = [];

    /// <summary>Addresses where no host lives: hits there make a darknet scan.</summary>
    public IReadOnlyList<IPNetwork> DarknetNetworks { get; init; } = [];

    // --- SMTP fan-out ---

    /// <summary>Distinct port-25 destinations per window that make a source a mass mailer.</summary>
    public int SmtpFanOutThreshold { get; init; } = 20;

    public TimeSpan SmtpFanOutWindow { get; init; } = TimeSpan.FromMinutes(1);

    // --- Mail volume (per source, to ports 25, 465 and 587) ---

    /// <summary>Window of the mail volume counts.</summary>
    public TimeSpan MailVolumeWindow { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Connections to mail ports per window (seen live from conntrack and in captures).</summary>
    public int MailConnectionThreshold { get; init; } = 30;

    /// <summary>Bytes to mail ports per window (packet payload in captures and NFLOG, flow totals from conntrack).</summary>
    public long MailByteThreshold { get; init; } = 10L * 1024 * 1024;

    /// <summary>Messages (DATA, BDAT ... LAST) per window, where the payload is in view.</summary>
    public int MailMessageThreshold { get; init; } = 20;

    /// <summary>Recipients (RCPT TO) per window, where the payload is in view.</summary>
    public int MailRecipientThreshold { get; init; } = 100;

    // --- Floods (per source and destination) ---

    /// <summary>Packets from one source to one destination per window that make a flood.</summary>
    public int PacketFloodThreshold { get; init; } = 20_000;

    public TimeSpan PacketFloodWindow { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Connection attempts from one source to one destination per window that make a flood.</summary>
    public int ConnectionFloodThreshold { get; init; } = 200;

    public TimeSpan ConnectionFloodWindow { get; init; } = TimeSpan.FromSeconds(10);

    // --- Probes ---

    /// <summary>Packets with flag combinations no TCP stack sends (NULL, XMAS, SYN+FIN, SYN+RST) before a source is reported.</summary>
    public int TcpFlagProbeThreshold { get; init; } = 3;

    /// <summary>Ports of well-known worm back doors and shells; data on them is reported.</summary>
    public IReadOnlyList<int> BackdoorPorts { get; init; } = [1524, 4444, 5554, 9996, 12345, 27374, 31337];

    /// <summary>Bound on per-source (and per-pair) state in every detector; the least recently seen is dropped beyond it.</summary>
    public int MaxTrackedSources { get; init; } = 100_000;

    internal static bool Contains(IReadOnlyList<IPNetwork> networks, IPAddress address)
    {
        for (int i = 0; i < networks.Count; i++)
        {
            if (networks[i].Contains(address))
            {
                return true;
            }
        }

        return false;
    }
}
