using System.Text.Json.Serialization;

namespace Moat.Host.Sandboxes;

/// <summary>
/// How strong the wall around a sandbox is, weakest first: <see cref="Container"/> shares the host kernel (runc),
/// <see cref="Gvisor"/> runs the sandbox on gVisor's user-space kernel (runsc), <see cref="Vm"/> gives it its own
/// kernel under KVM. The order is the strength order; policy never hands a client less than its trust requires.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<RuntimeTier>))]
public enum RuntimeTier
{
    [JsonStringEnumMemberName("container")]
    Container = 0,

    [JsonStringEnumMemberName("gvisor")]
    Gvisor = 1,

    [JsonStringEnumMemberName("vm")]
    Vm = 2,
}

/// <summary>Names of the tiers as users write them (CLI, options, store).</summary>
public static class RuntimeTiers
{
    public static IReadOnlyList<RuntimeTier> All { get; } = [RuntimeTier.Container, RuntimeTier.Gvisor, RuntimeTier.Vm];

    public static string Name(this RuntimeTier tier) => tier switch
    {
        RuntimeTier.Container => "container",
        RuntimeTier.Gvisor => "gvisor",
        RuntimeTier.Vm => "vm",
        _ => throw new ArgumentOutOfRangeException(nameof(tier), tier, "unknown runtime tier"),
    };

    public static bool TryParse(string? text, out RuntimeTier tier)
    {
        foreach (var t in All)
        {
            if (string.Equals(text, t.Name(), StringComparison.OrdinalIgnoreCase))
            {
                tier = t;
                return true;
            }
        }

        tier = default;
        return false;
    }

    /// <summary>Parses a tier a user wrote; throws one sentence naming the input and the valid names.</summary>
    public static RuntimeTier Parse(string text, string what = "tier") =>
        TryParse(text, out var t) ? t : throw new InvalidRequestException(
            $"{what} '{text}' is not a runtime tier: use container, gvisor or vm.");
}
