namespace Moat.Detect.Response;

/// <summary>A response policy document that cannot be used; the message names the entry and what would be valid.</summary>
public sealed class ResponsePolicyException : MoatException
{
    public ResponsePolicyException()
        : base(ErrorKind.Invalid, "the response policy cannot be used.")
    {
    }

    public ResponsePolicyException(string message)
        : base(ErrorKind.Invalid, message)
    {
    }

    public ResponsePolicyException(string message, Exception innerException)
        : base(ErrorKind.Invalid, message, innerException)
    {
    }
}
