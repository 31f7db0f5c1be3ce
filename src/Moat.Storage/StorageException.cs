namespace Moat.Storage;

/// <summary>A store could not be opened, migrated or reached; the message is one sentence naming what and how to fix it.</summary>
public class StorageException : MoatException
{
    public StorageException(string message)
        : base(ErrorKind.Unavailable, message)
    {
    }

    public StorageException(string message, Exception inner)
        : base(ErrorKind.Unavailable, message, inner)
    {
    }

    /// <summary>A store failure of another kind (e.g. a database newer than this code: <see cref="ErrorKind.Refused"/>).</summary>
    public StorageException(ErrorKind kind, string message, Exception? inner = null)
        : base(kind, message, inner)
    {
    }
}
