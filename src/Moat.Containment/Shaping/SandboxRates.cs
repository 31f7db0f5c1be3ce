using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Moat.Containment.Shaping;

/// <summary>
/// How fast one sandbox may send (and optionally receive): an aggregate cap, and flow classes with their own
/// limits (e.g. the data source unlimited, the rest at 1mbit), first match by remote address, protocol and port.
/// </summary>
public sealed record SandboxRates
{
    /// <summary>At most this many flow classes per sandbox (each takes one of the sandbox's 16 class ids).</summary>
    public const int MaxFlows = 14;

    /// <summary>Everything the sandbox sends, all flows together.</summary>
    public required BitRate Egress { get; init; }

    /// <summary>Everything sent toward the sandbox on its host veth; null leaves that direction unshaped.</summary>
    public BitRate? Ingress { get; init; }

    /// <summary>Flow classes; the remote end is the destination of what the sandbox sends and the source of what it receives.</summary>
    public IReadOnlyList<FlowClass> Flows { get; init; } = [];

    /// <summary>The limit for flows no class matches; null lets them use the whole aggregate.</summary>
    public BitRate? Rest { get; init; }

    /// <summary>Refuses rates and flow classes the kernel could not honour, with one sentence naming the sandbox and the value.</summary>
    /// <exception cref="ShapingInputException">Something is not valid.</exception>
    public void Validate(string sandboxId)
    {
        CheckRate(Egress, $"egress cap of sandbox {sandboxId}");
        if (Ingress is { } ingress)
        {
            CheckRate(ingress, $"ingress cap of sandbox {sandboxId}");
        }

        if (Rest is { } rest)
        {
            CheckRate(rest, $"rate for the rest of sandbox {sandboxId}'s flows");
        }

        ArgumentNullException.ThrowIfNull(Flows);
        if (Flows.Count > MaxFlows)
        {
            throw new ShapingInputException($"Sandbox {sandboxId} has {Flows.Count} flow classes: at most {MaxFlows} are allowed.");
        }

        for (var i = 0; i < Flows.Count; i++)
        {
            var flow = Flows[i] ?? throw new ShapingInputException($"Flow class {i + 1} of sandbox {sandboxId} is missing.");
            flow.Validate(sandboxId);
            if (flow.Rate is { } rate && rate > Egress)
            {
                throw new ShapingInputException(
                    $"Flow class '{flow.Name}' of sandbox {sandboxId} asks for {rate}, more than the sandbox's egress cap of {Egress}: use at most {Egress}, or no rate for 'up to the cap'.");
            }

            for (var j = 0; j < i; j++)
            {
                if (Flows[j].Name == flow.Name)
                {
                    throw new ShapingInputException($"Sandbox {sandboxId} has two flow classes named '{flow.Name}': names must be unique.");
                }
            }
        }
    }

    /// <summary>True when both describe the same flow matches (rates aside), so the nftables side need not change.</summary>
    internal bool SameMatches(SandboxRates other) =>
        Ingress.HasValue == other.Ingress.HasValue
        && Flows.Count == other.Flows.Count
        && Flows.Zip(other.Flows).All(p => p.First.Remote == p.Second.Remote && p.First.Protocol == p.Second.Protocol && p.First.Port == p.Second.Port);

    private static void CheckRate(BitRate rate, string what)
    {
        if (rate < BitRate.Minimum || rate > BitRate.Maximum)
        {
            throw new ShapingInputException($"The {what} of {rate.BitsPerSecond} bit/s is not valid: use {BitRate.Minimum} to {BitRate.Maximum}.");
        }
    }
}

/// <summary>Transport protocols a flow class can match.</summary>
public enum FlowProtocol
{
    Any,
    Tcp,
    Udp,
}

/// <summary>One flow class: traffic with <see cref="Remote"/> (and protocol/port if given), limited to <see cref="Rate"/> or up to the sandbox's cap.</summary>
public sealed partial record FlowClass(string Name, IPNetwork Remote)
{
    public FlowProtocol Protocol { get; init; } = FlowProtocol.Any;

    /// <summary>The remote port (destination port of what the sandbox sends); needs <see cref="Protocol"/> tcp or udp.</summary>
    public ushort? Port { get; init; }

    /// <summary>Null: as fast as the sandbox's aggregate cap allows.</summary>
    public BitRate? Rate { get; init; }

    internal void Validate(string sandboxId)
    {
        if (string.IsNullOrEmpty(Name) || !NamePattern().IsMatch(Name))
        {
            throw new ShapingInputException(
                $"Flow class name '{Name}' of sandbox {sandboxId} is not valid: use 1 to 32 letters, digits, '-' or '_'.");
        }

        if (Remote.BaseAddress.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6))
        {
            throw new ShapingInputException($"Flow class '{Name}' of sandbox {sandboxId} names remote {Remote}: use an IPv4 or IPv6 prefix.");
        }

        if (Port is not null && Protocol == FlowProtocol.Any)
        {
            throw new ShapingInputException($"Flow class '{Name}' of sandbox {sandboxId} gives port {Port} without a protocol: say tcp or udp.");
        }

        if (Port == 0)
        {
            throw new ShapingInputException($"Flow class '{Name}' of sandbox {sandboxId} gives port 0: use 1 to 65535, or no port for all.");
        }

        if (Rate is { } rate && (rate < BitRate.Minimum || rate > BitRate.Maximum))
        {
            throw new ShapingInputException(
                $"The rate of flow class '{Name}' of sandbox {sandboxId} is {rate.BitsPerSecond} bit/s: use {BitRate.Minimum} to {BitRate.Maximum}.");
        }
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,32}$")]
    private static partial Regex NamePattern();
}
