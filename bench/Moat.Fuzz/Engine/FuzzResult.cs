namespace Moat.Fuzz.Engine;

/// <summary>What kind of misbehaviour an input provoked.</summary>
internal enum FindingKind
{
    /// <summary>An exception other than the parser's documented bad-input exceptions.</summary>
    Crash,

    /// <summary>The input took longer than the per-input time limit.</summary>
    Hang,

    /// <summary>The parser allocated more than the per-input budget (proportional to the input, not to a length field).</summary>
    Memory,
}

/// <summary>One distinct finding (same kind, exception type and throwing frame), with its first and minimised input.</summary>
internal sealed record FuzzFinding(FindingKind Kind, long Index, string Signature, string Detail, byte[] Input, byte[] Minimised, int Count)
{
    public string? SavedAs { get; init; }
}

/// <summary>The outcome of a run over one target.</summary>
internal sealed record FuzzResult(
    string Target,
    string Parser,
    long Inputs,
    long Refused,
    int Crashes,
    int Hangs,
    int MemoryFindings,
    double MaxMsPerInput,
    long MaxAllocatedPerInput,
    long PeakWorkingSet,
    long PeakGcHeap,
    double Seconds,
    IReadOnlyList<FuzzFinding> Findings)
{
    public double InputsPerSecond => Seconds > 0 ? Inputs / Seconds : 0;
}
