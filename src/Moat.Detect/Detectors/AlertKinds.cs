namespace Moat.Detect.Detectors;

/// <summary>The names of the detectors, which are also the alert kinds a response policy maps to actions.</summary>
public static class AlertKinds
{
    public const string ThresholdRandomWalk = "trw";
    public const string ScanContainment = "scan-containment";
    public const string AddressScan = "address-scan";
    public const string PortScan = "port-scan";
    public const string RandomScan = "random-scan";
    public const string SmtpFanOut = "smtp-fanout";
    public const string MailVolume = "mail-volume";
    public const string PacketFlood = "packet-flood";
    public const string ConnectionFlood = "connection-flood";
    public const string TcpFlagProbe = "tcp-flag-probe";
    public const string BackdoorPort = "backdoor-port";

    /// <summary>Every kind, in the order detectors run.</summary>
    public static IReadOnlyList<string> All { get; } =
    [
        ThresholdRandomWalk, ScanContainment, AddressScan, PortScan, RandomScan, SmtpFanOut, MailVolume, PacketFlood,
        ConnectionFlood, TcpFlagProbe, BackdoorPort,
    ];
}
