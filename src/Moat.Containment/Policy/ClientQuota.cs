using System.Globalization;
using Moat.Containment.Trust;

namespace Moat.Containment.Policy;

/// <summary>
/// What one client may hold on a host at once: sandboxes, the memory they are given, and execs running in them. A
/// field left null inherits (a client's entry from its trust level's, a level's from <see cref="DefaultFor"/>);
/// <see cref="Unlimited"/> values mean no limit.
/// </summary>
public sealed record ClientQuota(int? Sandboxes = null, long? MemoryBytes = null, int? Execs = null)
{
    public const int Unlimited = int.MaxValue;
    public const long UnlimitedBytes = long.MaxValue;
    private const long GiB = 1L << 30;

    /// <summary>The default per trust level: a trusted client is not limited; a semi-trusted one 16 sandboxes, 16 GiB and
    /// 32 execs; an untrusted one 4 sandboxes, 2 GiB and 4 execs.</summary>
    public static ClientQuota DefaultFor(TrustLevel trust) => trust switch
    {
        TrustLevel.Trusted => new(Unlimited, UnlimitedBytes, Unlimited),
        TrustLevel.SemiTrusted => new(16, 16 * GiB, 32),
        _ => new(4, 2 * GiB, 4),
    };

    /// <summary>This quota with every field it leaves null taken from <paramref name="fallback"/>.</summary>
    public ClientQuota Over(ClientQuota fallback)
    {
        ArgumentNullException.ThrowIfNull(fallback);
        return new(Sandboxes ?? fallback.Sandboxes, MemoryBytes ?? fallback.MemoryBytes, Execs ?? fallback.Execs);
    }

    /// <summary>A count for a sentence: the number, or "unlimited".</summary>
    public static string Show(long? value, bool bytes = false) => value switch
    {
        null or Unlimited or UnlimitedBytes => "unlimited",
        { } v when bytes => (v / (1024 * 1024)).ToString(CultureInfo.InvariantCulture) + " MiB",
        { } v => v.ToString(CultureInfo.InvariantCulture),
    };
}
