namespace Moat.Monitor.Sources;

/// <summary>Which process life-cycle step the proc connector reported.</summary>
internal enum ProcEventKind
{
    Fork,
    Exec,
    Exit,
}

/// <summary>
/// One proc connector event. For Fork, <see cref="Pid"/>/<see cref="Tgid"/> are the child and
/// <see cref="ParentTgid"/> the parent; for Exec and Exit, the process itself.
/// </summary>
internal readonly record struct ProcEvent(ProcEventKind Kind, int Pid, int Tgid, int ParentTgid, int Cpu, ulong TimestampNs);
