namespace Moat.Control;

/// <summary>The control plane's failures: the root of its small hierarchy, under <see cref="MoatException"/>.</summary>
public class ControlException : MoatException
{
    public ControlException(string message)
        : base(ErrorKind.Internal, message)
    {
    }

    public ControlException(string message, Exception inner)
        : base(ErrorKind.Internal, message, inner)
    {
    }

    protected ControlException(ErrorKind kind, string message)
        : base(kind, message)
    {
    }
}

/// <summary>A caller's or an operator's bad input; the message is one sentence naming the input and what would be valid.</summary>
public sealed class ControlInputException(string message) : ControlException(ErrorKind.Invalid, message);

/// <summary>Something the caller named does not exist (or is not the caller's: both are answered alike).</summary>
public sealed class ControlNotFoundException(string message) : ControlException(ErrorKind.NotFound, message);

/// <summary>The request conflicts with what is stored (a name already taken).</summary>
public sealed class ControlConflictException(string message) : ControlException(ErrorKind.Refused, message);

/// <summary>No host can take the request now (none online, none with room for it).</summary>
public sealed class ControlUnavailableException(string message) : ControlException(ErrorKind.Unavailable, message);

/// <summary>The caller's key is valid but its scope does not cover the request.</summary>
public sealed class ControlForbiddenException(string message) : ControlException(ErrorKind.Refused, message);
