namespace Moat.Mtd;

/// <summary>A broken invariant inside the moving target defense component.</summary>
public class MtdException : MoatException
{
    /// <summary>Creates the exception with a message.</summary>
    public MtdException(string message)
        : base(ErrorKind.Internal, message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public MtdException(string message, Exception innerException)
        : base(ErrorKind.Internal, message, innerException)
    {
    }

    /// <summary>Creates the exception with the kind of failure it is.</summary>
    public MtdException(ErrorKind kind, string message, Exception? innerException = null)
        : base(kind, message, innerException)
    {
    }

    /// <summary>Creates the exception without a message.</summary>
    public MtdException()
        : base(ErrorKind.Internal, "the moving target defense failed.")
    {
    }
}
