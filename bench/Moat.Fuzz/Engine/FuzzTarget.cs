namespace Moat.Fuzz.Engine;

/// <summary>
/// One parser under test: its seeds, the call that feeds it an input, and which exceptions are the parser's documented
/// answer to bad input. Any other exception is a crash.
/// </summary>
internal sealed class FuzzTarget
{
    public required string Name { get; init; }

    /// <summary>The entry point fuzzed, for the report.</summary>
    public required string Parser { get; init; }

    public required Func<IReadOnlyList<byte[]>> Seeds { get; init; }

    public required Action<byte[]> Run { get; init; }

    /// <summary>True for the parser's documented bad-input outcome; such an exception is a refusal, not a crash.</summary>
    public Func<Exception, bool> Expected { get; init; } = _ => false;

    /// <summary>Tokens the mutator may insert (keywords, delimiters, numbers that overflow).</summary>
    public IReadOnlyList<byte[]> Dictionary { get; init; } = [];

    public int MaxLength { get; init; } = 64 * 1024;

    /// <summary>
    /// Allocation allowed per input byte when the parser has a fixed cost per unit it frames (an XmlReader per stanza
    /// costs about 10 KB however small the stanza); null keeps the run's default.
    /// </summary>
    public long? AllocationPerInputByte { get; init; }

    /// <summary>Called once before a run and once after it (a temporary folder for targets that unpack files).</summary>
    public Action? Setup { get; init; }

    public Action? Teardown { get; init; }
}
