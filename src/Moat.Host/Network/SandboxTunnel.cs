namespace Moat.Host.Network;

/// <summary>
/// An untrusted sandbox's tunnel to its client as `moat sandbox inspect` shows it: the VXLAN id and both ends, the
/// destinations reached directly (authcert-opened nodes), and the command the client runs to bring up its end.
/// </summary>
public sealed record SandboxTunnel(uint Vni, string HostAddress, string ClientAddress, string SandboxAddress, IReadOnlyList<string> Direct, ushort Port)
{
    /// <summary>What the client runs on its machine (as root) to carry the sandbox's traffic and masquerade it.</summary>
    public string ClientCommand =>
        $"moat client tunnel --host {HostAddress} --vni {Vni} --sandbox {SandboxAddress} --nat"
        + (Port == Moat.Linux.Netlink.VxlanSpec.DefaultPort ? "" : $" --port {Port}");
}
