namespace Moat.Fuzz.Engine;

/// <summary>How long and how hard a run fuzzes each target, and what counts as a hang or a memory blow-up.</summary>
/// <param name="Inputs">Inputs per target.</param>
/// <param name="Seed">Seed of the mutations; (seed, input index) fixes an input.</param>
/// <param name="HangLimit">An input running longer than this is a hang.</param>
/// <param name="AllocationBase">Bytes any input may allocate on top of <paramref name="AllocationPerInputByte"/> per input byte.</param>
/// <param name="AllocationPerInputByte">Bytes allowed per byte of input, so allocation follows the input, not a length field in it.</param>
/// <param name="CrashFolder">Where crashing inputs are written (null: not written).</param>
/// <param name="MaxHangs">A target that hung this often is given up (each hang leaves a thread spinning).</param>
internal sealed record FuzzOptions(
    long Inputs,
    int Seed,
    TimeSpan HangLimit,
    long AllocationBase,
    long AllocationPerInputByte,
    string? CrashFolder,
    int MaxHangs = 3)
{
    public static FuzzOptions Default { get; } = new(100_000, 1, TimeSpan.FromSeconds(1), 16L << 20, 256, null);

    /// <summary>Stack of the thread that runs the inputs: what a thread-pool thread has on Linux, so deep recursion shows.</summary>
    public int StackBytes { get; init; } = 1536 * 1024;

    /// <summary>Bound on the attempts spent shrinking one finding's input.</summary>
    public int MinimiseAttempts { get; init; } = 2000;

    /// <summary>Distinct findings kept per target (all are counted).</summary>
    public int MaxFindings { get; init; } = 20;
}
