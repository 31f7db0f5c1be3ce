using System.Globalization;
using System.Text.Json;
using System.Xml.Linq;
using Moat.Host.Client;

namespace Moat.Host.Fabric;

/// <summary>
/// The host protocol on the fabric (urn:moat:host:0): sandbox operations are IQ requests carrying
/// <c>&lt;sandbox op='…' ref='…'&gt;JSON&lt;/sandbox&gt;</c> (the JSON is the local API's body), and host status is a
/// <c>&lt;host/&gt;</c> element in the agent's presence.
/// </summary>
public static class FabricProtocol
{
    public static readonly XNamespace Ns = "urn:moat:host:0";
    public static readonly XNamespace Client = "jabber:client";
    public const string DefaultResource = "agent";

    /// <summary>The operations a host answers.</summary>
    public static readonly IReadOnlyList<string> Operations = ["status", "claim", "create", "exec", "ls", "inspect", "rm", "stop", "start",
        "host", "checkpoint-support", "checkpoint", "reserve", "export", "import", "alerts", "quarantine", "release"];

    /// <summary>Operations that only read.</summary>
    private static readonly HashSet<string> Reads = ["status", "ls", "inspect", "host", "checkpoint-support", "alerts"];

    /// <summary>Operations of relocation between hosts (administrators only): the host's full status, what it can
    /// checkpoint and a checkpoint (live moves), a stopped copy made from a manifest, a stopped sandbox's state streamed
    /// out or in (XEP-0047), and the watchers' alerts about every sandbox of the host (what moves a victim away from a
    /// suspect); and quarantine and its release (what a control plane does for its clients and administrators).</summary>
    public static readonly IReadOnlyList<string> AdminOperations = ["host", "checkpoint-support", "checkpoint", "reserve", "export", "import", "alerts",
        "quarantine", "release"];

    public static XElement Request(string to, string op, string? reference = null, object? body = null)
    {
        var payload = new XElement(Ns + "sandbox", new XAttribute("op", op));
        if (reference is not null)
        {
            payload.SetAttributeValue("ref", reference);
        }

        if (body is not null)
        {
            payload.Value = JsonSerializer.Serialize(body, body.GetType(), HostClient.Json);
        }

        return new XElement(Client + "iq", new XAttribute("type", Reads.Contains(op) ? "get" : "set"), new XAttribute("to", to), payload);
    }

    public static XElement Answer(string op, object? body)
    {
        var payload = new XElement(Ns + "sandbox", new XAttribute("op", op));
        if (body is not null)
        {
            payload.Value = JsonSerializer.Serialize(body, body.GetType(), HostClient.Json);
        }

        return payload;
    }

    /// <summary>Body of an exec request.</summary>
    public sealed record ExecBody(IReadOnlyList<string> Command, IReadOnlyDictionary<string, string>? Env = null, double TimeoutSeconds = 60);

    /// <summary>Body of export and import: the in-band bytestream (XEP-0047) that carries the state, and for an import
    /// whether to start the sandbox once its state is in.</summary>
    public sealed record TransferBody(string Sid, bool Start = true);

    /// <summary>Answer to an export: the bytes sent.</summary>
    public sealed record ExportResult(long Bytes);

    /// <summary>Body of alerts: the most recent alerts of each kind to return (1 to 100,000).</summary>
    public sealed record AlertsBody(int Limit = 1000);

    /// <summary>Body of stop: how long the sandbox's processes get after SIGTERM.</summary>
    public sealed record StopBody(double GraceSeconds = 5);

    /// <summary>What a host says about itself in its presence.</summary>
    public sealed record HostPresence(string Jid, bool Available, int Sandboxes, int PoolReady, int PoolTarget, long FreeMemoryMb, string Version)
    {
        /// <summary>Kernel, OS, CPU and runtimes as the host published them (null when it did not); each value cleaned
        /// and cut to <see cref="Agent.HostFeatures.MaxLength"/>, at most <see cref="MaxRuntimes"/> runtimes.</summary>
        public Agent.HostFeatures? Features { get; init; }
    }

    /// <summary>Runtimes kept from a peer's presence.</summary>
    public const int MaxRuntimes = 8;

    public static XElement StatusElement(int sandboxes, int poolReady, int poolTarget, long freeMemoryMb, string version, Agent.HostFeatures? features = null) =>
        new(Ns + "host",
            new XAttribute("sandboxes", sandboxes),
            new XAttribute("pool-ready", poolReady),
            new XAttribute("pool-target", poolTarget),
            new XAttribute("free-memory-mb", freeMemoryMb),
            new XAttribute("version", version),
            features is null ? null : new XElement(Ns + "features",
                new XAttribute("kernel", features.Kernel),
                new XAttribute("os", features.Os),
                new XAttribute("cpu", features.Cpu),
                features.Runtimes.Select(r => new XElement(Ns + "runtime", new XAttribute("tier", r.Key), new XAttribute("version", r.Value)))));

    /// <summary>Reads a host's presence; null when the stanza is not one (a person's or a worker's presence).</summary>
    public static HostPresence? ParsePresence(XElement presence)
    {
        string? from = presence.Attribute("from")?.Value;
        if (from is null)
        {
            return null;
        }

        var type = presence.Attribute("type")?.Value;
        if (type == "unavailable")
        {
            return new HostPresence(from, false, 0, 0, 0, 0, string.Empty);
        }

        var host = presence.Element(Ns + "host");
        if (type is not null || host is null)
        {
            return null;
        }

        return new HostPresence(from, true, Int(host, "sandboxes"), Int(host, "pool-ready"), Int(host, "pool-target"),
            long.TryParse(host.Attribute("free-memory-mb")?.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var m) ? m : 0,
            host.Attribute("version")?.Value ?? string.Empty)
        {
            Features = host.Element(Ns + "features") is { } f ? FeaturesOf(f) : null,
        };
    }

    // A peer's presence is hostile input: values are cleaned and cut, runtimes bounded, duplicates keep the first.
    private static Agent.HostFeatures FeaturesOf(XElement f)
    {
        var runtimes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var r in f.Elements(Ns + "runtime").Take(MaxRuntimes))
        {
            runtimes.TryAdd(Agent.HostFeatures.Clean(r.Attribute("tier")?.Value), Agent.HostFeatures.Clean(r.Attribute("version")?.Value));
        }

        return new Agent.HostFeatures(Agent.HostFeatures.Clean(f.Attribute("kernel")?.Value), Agent.HostFeatures.Clean(f.Attribute("os")?.Value),
            Agent.HostFeatures.Clean(f.Attribute("cpu")?.Value), runtimes);
    }

    private static int Int(XElement e, string name) =>
        int.TryParse(e.Attribute(name)?.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : 0;
}
