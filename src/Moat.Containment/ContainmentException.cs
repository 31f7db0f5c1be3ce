namespace Moat.Containment;

/// <summary>Network containment could not do what it was asked; the message is one sentence for the operator.</summary>
public class ContainmentException : Exception
{
    public ContainmentException(string message)
        : base(message)
    {
    }

    public ContainmentException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>The user's input (a policy file, a trust request, an authcert) was refused; nothing in force changed.</summary>
public sealed class ContainmentInputException : ContainmentException
{
    public ContainmentInputException(string message)
        : base(message)
    {
    }
}
