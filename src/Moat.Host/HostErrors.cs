namespace Moat.Host;

/// <summary>Base of the host agent's errors: something the agent could not do, said in one sentence.</summary>
public class MoatHostException : MoatException
{
    public MoatHostException(string message, Exception? inner = null) : base(ErrorKind.Internal, message, inner) { }

    protected MoatHostException(ErrorKind kind, string message, Exception? inner = null) : base(kind, message, inner) { }
}

/// <summary>The caller asked for something invalid (bad spec) or unknown (no such name): HTTP 400 or 404, exit 2 or 4.</summary>
public sealed class InvalidRequestException : MoatHostException
{
    public InvalidRequestException(string message, bool notFound = false)
        : base(notFound ? ErrorKind.NotFound : ErrorKind.Invalid, message) => NotFound = notFound;

    public bool NotFound { get; }
}

/// <summary>The request was valid but cannot be met now (pool exhausted, not enough memory): HTTP 409.</summary>
public sealed class ResourceExhaustedException : MoatHostException
{
    public ResourceExhaustedException(string message) : base(ErrorKind.Refused, message) { }
}

/// <summary>A system tool the agent needs is not installed.</summary>
public sealed class ToolMissingException : MoatHostException
{
    public ToolMissingException(string tool, Exception inner)
        : base(ErrorKind.Unavailable, $"'{tool}' is not installed or not on PATH; run scripts/setup to install Moat's dependencies.", inner) { }
}

/// <summary>A system tool exited non-zero; the message carries its own words.</summary>
public sealed class ToolFailedException : MoatHostException
{
    public ToolFailedException(string tool, IReadOnlyList<string> arguments, Runtime.ProcessResult result)
        : base($"{tool} {string.Join(' ', arguments.Take(3))} failed (exit {result.ExitCode}): {result.Diagnostic}")
        => Result = result;

    public Runtime.ProcessResult Result { get; }
}
