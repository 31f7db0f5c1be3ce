namespace Moat.Containment.Policy;

/// <summary>A policy file was refused: one sentence naming the file, the line and the field, and what would be valid.</summary>
public sealed class PolicyException : ContainmentException
{
    public PolicyException(string file, long line, string field, string problem)
        : base(ErrorKind.Invalid, $"{file} line {line}, field '{field}': {problem}")
    {
        File = file;
        Line = line;
        Field = field;
    }

    public string File { get; }

    public long Line { get; }

    public string Field { get; }
}
