namespace Moat.Honeyfarm.Clones;

/// <summary>The services a clone offers: TCP ports that greet with a banner, UDP ports that echo.</summary>
public sealed record Personality(string Name, IReadOnlyList<int> TcpPorts, IReadOnlyList<int> UdpPorts, string Banner)
{
    public static Personality Default { get; } = new("linux-server", [22, 80], [53], "SSH-2.0-OpenSSH_9.2p1 Debian-2");
}
