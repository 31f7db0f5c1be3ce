namespace Moat.Containment;

/// <summary>Network containment could not do what it was asked; the message is one sentence for the operator.</summary>
public class ContainmentException : MoatException
{
    public ContainmentException(string message)
        : base(ErrorKind.Internal, message)
    {
    }

    public ContainmentException(string message, Exception inner)
        : base(ErrorKind.Internal, message, inner)
    {
    }

    public ContainmentException(string message, ErrorKind kind, Exception? inner = null)
        : base(kind, message, inner)
    {
    }

    protected ContainmentException(ErrorKind kind, string message)
        : base(kind, message)
    {
    }
}

/// <summary>The user's input (a policy file, a trust request, an authcert) was refused; nothing in force changed.</summary>
public sealed class ContainmentInputException : ContainmentException
{
    public ContainmentInputException(string message)
        : base(ErrorKind.Invalid, message)
    {
    }
}
