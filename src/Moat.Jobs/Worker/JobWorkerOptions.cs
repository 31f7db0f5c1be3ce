using Moat.Xmpp.Client;

namespace Moat.Jobs.Worker;

/// <summary>Settings for a worker: its XMPP account, the managers it serves, and what it offers them.</summary>
public sealed record JobWorkerOptions
{
    public static JobWorkerOptions Default { get; } = new();

    public XmppClientOptions Xmpp { get; init; } = XmppClientOptions.Default;

    /// <summary>Bare JIDs of the managers this worker takes tasks from.</summary>
    public IReadOnlyList<string> Managers { get; init; } = [];

    public int Slots { get; init; } = Environment.ProcessorCount;

    public IReadOnlyList<string> Labels { get; init; } = [];

    public int MemoryMb { get; init; }

    public double Cpus { get; init; } = Environment.ProcessorCount;

    /// <summary>Output kept per task (stdout then stderr); the rest is cut so one task cannot flood the fabric.</summary>
    public int MaxOutputBytes { get; init; } = 16 * 1024;
}
