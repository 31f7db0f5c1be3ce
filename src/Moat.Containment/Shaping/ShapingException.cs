namespace Moat.Containment.Shaping;

/// <summary>Shaping could not be put in place; what was in force before stays in force.</summary>
public class ShapingException : MoatException
{
    public ShapingException(string message)
        : base(ErrorKind.Internal, message)
    {
    }

    public ShapingException(string message, Exception inner)
        : base(ErrorKind.Internal, message, inner)
    {
    }

    protected ShapingException(ErrorKind kind, string message)
        : base(kind, message)
    {
    }
}

/// <summary>A rate or flow class given by a user or a policy is not valid; the message is one sentence saying why.</summary>
public sealed class ShapingInputException : ShapingException
{
    public ShapingInputException(string message)
        : base(ErrorKind.Invalid, message)
    {
    }
}
