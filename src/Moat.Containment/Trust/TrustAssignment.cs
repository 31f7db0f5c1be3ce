using Moat.Containment.Policy;

namespace Moat.Containment.Trust;

/// <summary>Decides a sandbox's trust level: the policy's level for its client, or a lower one the client asks for.</summary>
public static class TrustAssignment
{
    /// <summary>
    /// The trust a sandbox of <paramref name="client"/> gets. A client may ask to be trusted less than the policy says
    /// (e.g. to try its code under untrusted rules) but never more.
    /// </summary>
    /// <exception cref="ContainmentInputException">The client asked for more trust than the policy gives it.</exception>
    public static TrustLevel Resolve(AdminPolicy policy, string client, TrustLevel? requested)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var granted = policy.TrustFor(client);
        if (requested is not { } asked)
        {
            return granted;
        }

        if (asked > granted)
        {
            throw new ContainmentInputException(
                $"Client '{client}' asked for trust '{asked.ToName()}' but this host's policy gives it '{granted.ToName()}'; ask for '{granted.ToName()}' or less.");
        }

        return asked;
    }
}
