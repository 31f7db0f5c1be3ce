using System.Net;

namespace Moat.Honeyfarm.Limits;

/// <summary>
/// How much a clone may say over UDP. A datagram's source address is whatever its sender wrote, so a reply may land on
/// someone who never asked: to a sender that has not completed a TCP handshake with the clone (and so not proven that it
/// receives at its address) a reply is never longer than the datagram it answers, and replies are rate-limited per
/// sender and per clone, whoever the sender is. The farm is then no amplifier, and a reflector of bounded rate.
/// </summary>
/// <remarks>
/// Per-sender buckets are a fixed array indexed by a hash of the address (senders that share a slot share its rate), so
/// a flood from a million spoofed addresses costs no memory; the proven senders are at most <see cref="MaxVerified"/>
/// (later ones stay unproven: the safe side).
/// </remarks>
internal sealed class UdpReplyBudget(UdpReplyLimits limits, TimeProvider time)
{
    public const int MaxVerified = 1024;
    private const int SenderSlots = 256;

    private readonly Lock _gate = new();
    private readonly TokenBucket[] _perSender = new TokenBucket[SenderSlots];
    private readonly HashSet<IPAddress> _verified = [];
    private TokenBucket _overall;

    /// <summary>Replies sent shorter than the clone's answer (the sender was unproven).</summary>
    public long Truncated { get; private set; }

    /// <summary>Datagrams left unanswered: over a rate, or empty from an unproven sender.</summary>
    public long Refused { get; private set; }

    /// <summary>A peer completed a TCP handshake with the clone: it receives at its address.</summary>
    public void Verified(IPAddress peer)
    {
        lock (_gate)
        {
            if (_verified.Count < MaxVerified)
            {
                _verified.Add(Normal(peer));
            }
        }
    }

    /// <summary>The bytes of an answer of <paramref name="wanted"/> bytes the clone may send to <paramref name="sender"/>, who sent <paramref name="received"/>; 0 sends nothing.</summary>
    public int Allowed(IPAddress sender, int received, int wanted)
    {
        sender = Normal(sender);
        lock (_gate)
        {
            var verified = _verified.Contains(sender);
            var allowed = verified ? wanted : Math.Min(wanted, received);
            var now = time.GetTimestamp();
            var slot = (int)((uint)sender.GetHashCode() % SenderSlots);
            if (allowed <= 0
                || !_perSender[slot].TryTake(limits.PerSenderPerSecond, limits.PerSenderPerSecond, now, time)
                || !_overall.TryTake(limits.PerSecond, limits.PerSecond, now, time))
            {
                Refused++;
                return 0;
            }

            if (allowed < wanted)
            {
                Truncated++;
            }

            return allowed;
        }
    }

    private static IPAddress Normal(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}

/// <summary>How many UDP answers a clone gives: in all, and to any one sender, per second.</summary>
public sealed record UdpReplyLimits
{
    public static UdpReplyLimits Default { get; } = new();

    /// <summary>Answers a second from one clone, to all senders together.</summary>
    public int PerSecond { get; init; } = 100;

    /// <summary>Answers a second from one clone to one sender.</summary>
    public int PerSenderPerSecond { get; init; } = 10;
}
