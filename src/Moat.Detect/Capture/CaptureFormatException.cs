namespace Moat.Detect.Capture;

/// <summary>A capture file that cannot be read further; <see cref="Offset"/> is where reading stopped.</summary>
public sealed class CaptureFormatException : MoatException
{
    public CaptureFormatException(string message, long offset)
        : base(ErrorKind.Invalid, $"{message} (at byte offset {offset})")
    {
        Offset = offset;
    }

    public CaptureFormatException()
        : base(ErrorKind.Invalid, "the capture file cannot be read.")
    {
    }

    public CaptureFormatException(string message)
        : base(ErrorKind.Invalid, message)
    {
    }

    public CaptureFormatException(string message, Exception innerException)
        : base(ErrorKind.Invalid, message, innerException)
    {
    }

    /// <summary>Byte offset in the file of the structure that could not be read.</summary>
    public long Offset { get; }
}
