namespace Moat.Detect.Response;

/// <summary>A response policy document that cannot be used; the message names the entry and what would be valid.</summary>
public sealed class ResponsePolicyException : Exception
{
    public ResponsePolicyException()
    {
    }

    public ResponsePolicyException(string message)
        : base(message)
    {
    }

    public ResponsePolicyException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
