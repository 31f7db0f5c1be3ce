using System.Net;
using Moat.Containment.Trust;

namespace Moat.Containment.Rules;

/// <summary>What the rules know of one sandbox: its id, host-side veth, address, client and trust.</summary>
/// <param name="RequestedTrust">A lower trust the client asked for; null follows the policy.</param>
public sealed record SandboxNetwork(string Id, string HostInterface, IPAddress Address, string Client, IPAddress? ClientAddress, TrustLevel? RequestedTrust = null)
{
    /// <summary>Host interface name Moat gives a sandbox's veth ("mh" + id).</summary>
    public static string InterfaceFor(string id) => "mh" + id;
}
