namespace Moat.Pki;

/// <summary>Base of the Moat.Pki exception hierarchy: a broken invariant or unusable input in the PKI code.</summary>
public class PkiException : Exception
{
    public PkiException(string message) : base(message) { }

    public PkiException(string message, Exception innerException) : base(message, innerException) { }
}

/// <summary>A user's input (a file, a key, an address, a lifetime) that cannot be used; the message names it and what would be valid.</summary>
public sealed class PkiInputException : PkiException
{
    public PkiInputException(string message) : base(message) { }

    public PkiInputException(string message, Exception innerException) : base(message, innerException) { }
}
