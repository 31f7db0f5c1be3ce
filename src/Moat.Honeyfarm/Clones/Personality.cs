namespace Moat.Honeyfarm.Clones;

/// <summary>
/// The services a clone offers: TCP ports that greet with a banner; UDP ports (container clones: DNS on 53, NTP on 123,
/// SNMP on 161, 1434 runs what it receives, others echo; in-process clones echo their greeting).
/// </summary>
public sealed record Personality(string Name, IReadOnlyList<int> TcpPorts, IReadOnlyList<int> UdpPorts, string Banner)
{
    public static Personality Default { get; } = new("linux-server", [22, 80], [53, 123, 161], "SSH-2.0-OpenSSH_9.2p1 Debian-2");

    /// <summary>The personalities `--personality RANGE=NAME` can name.</summary>
    public static IReadOnlyDictionary<string, Personality> Known { get; } = new Dictionary<string, Personality>(StringComparer.Ordinal)
    {
        [Default.Name] = Default,
        ["web-server"] = new("web-server", [80, 443], [], "HTTP/1.1 400 Bad Request\r\nServer: nginx/1.22.1"),
        ["windows-host"] = new("windows-host", [135, 139, 445, 3389], [137, 1434], "Microsoft Windows [Version 10.0.19045.3930]"),
        ["iot-telnet"] = new("iot-telnet", [23], [], "BusyBox v1.35.0 built-in shell (ash)"),
    };
}

/// <summary>Addresses of <see cref="Range"/> (inside the dark range) are answered by clones of <see cref="Personality"/>.</summary>
public sealed record PersonalityRange(System.Net.IPNetwork Range, Personality Personality);
