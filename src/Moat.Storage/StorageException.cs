namespace Moat.Storage;

/// <summary>A store could not be opened, migrated or reached; the message is one sentence naming what and how to fix it.</summary>
public class StorageException : Exception
{
    public StorageException(string message)
        : base(message)
    {
    }

    public StorageException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
