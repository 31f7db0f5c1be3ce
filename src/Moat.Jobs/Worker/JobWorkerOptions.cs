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

    /// <summary>
    /// Ask managers for a presence subscription so the server re-delivers this worker's presence when a manager
    /// restarts. Prosody rewrites a whole roster on every change, so fleets of thousands turn this off and rely on
    /// directed presence (a restarted manager then learns of each worker when it next reconnects).
    /// </summary>
    public bool SubscribeToManagers { get; init; } = true;

    /// <summary>Output kept per task (stdout then stderr); the rest is cut so one task cannot flood the fabric.</summary>
    public int MaxOutputBytes { get; init; } = 16 * 1024;

    /// <summary>Where tasks run: null runs each as a process on this machine; <see cref="SandboxTaskExecutor"/> runs each in a
    /// Moat sandbox claimed from the local host agent.</summary>
    public ITaskExecutor? Executor { get; init; }
}
