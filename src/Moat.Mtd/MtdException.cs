namespace Moat.Mtd;

/// <summary>A broken invariant inside the moving target defense component.</summary>
public class MtdException : Exception
{
    /// <summary>Creates the exception with a message.</summary>
    public MtdException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public MtdException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception without a message.</summary>
    public MtdException()
    {
    }
}
