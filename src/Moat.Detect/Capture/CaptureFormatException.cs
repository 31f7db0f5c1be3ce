namespace Moat.Detect.Capture;

/// <summary>A capture file that cannot be read further; <see cref="Offset"/> is where reading stopped.</summary>
public sealed class CaptureFormatException : Exception
{
    public CaptureFormatException(string message, long offset)
        : base($"{message} (at byte offset {offset})")
    {
        Offset = offset;
    }

    public CaptureFormatException()
    {
    }

    public CaptureFormatException(string message)
        : base(message)
    {
    }

    public CaptureFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Byte offset in the file of the structure that could not be read.</summary>
    public long Offset { get; }
}
