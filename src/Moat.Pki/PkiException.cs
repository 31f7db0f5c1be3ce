namespace Moat.Pki;

/// <summary>Base of the Moat.Pki exception hierarchy: a broken invariant or unusable input in the PKI code.</summary>
public class PkiException : MoatException
{
    public PkiException(string message) : base(ErrorKind.Internal, message) { }

    public PkiException(string message, Exception innerException) : base(ErrorKind.Internal, message, innerException) { }

    protected PkiException(ErrorKind kind, string message, Exception? innerException = null) : base(kind, message, innerException) { }
}

/// <summary>A user's input (a file, a key, an address, a lifetime) that cannot be used; the message names it and what would be valid.</summary>
public sealed class PkiInputException : PkiException
{
    public PkiInputException(string message) : base(ErrorKind.Invalid, message) { }

    public PkiInputException(string message, Exception innerException) : base(ErrorKind.Invalid, message, innerException) { }
}
