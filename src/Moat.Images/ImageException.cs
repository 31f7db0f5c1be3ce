namespace Moat.Images;

/// <summary>Base of every failure the image store reports; its message is one sentence a user can act on.</summary>
public class ImageException : MoatException
{
    public ImageException(string message)
        : base(ErrorKind.Internal, message)
    {
    }

    public ImageException(string message, Exception innerException)
        : base(ErrorKind.Internal, message, innerException)
    {
    }

    protected ImageException(ErrorKind kind, string message, Exception? innerException = null)
        : base(kind, message, innerException)
    {
    }
}

/// <summary>A name or digest prefix that matches no image (or more than one), or an archive to import that is not there.</summary>
public sealed class ImageNotFoundException(string message) : ImageException(ErrorKind.NotFound, message);

/// <summary>An archive that is malformed, truncated, oversized, unsupported or tries to escape the root file system.</summary>
public sealed class ImageArchiveException : ImageException
{
    public ImageArchiveException(string message)
        : base(ErrorKind.Invalid, message)
    {
    }

    public ImageArchiveException(string message, Exception innerException)
        : base(ErrorKind.Invalid, message, innerException)
    {
    }
}

/// <summary>A build tool (debootstrap, busybox) that failed or is missing.</summary>
public sealed class ImageBuildException(string message) : ImageException(message);

/// <summary>An image that cannot be removed because a sandbox still uses it.</summary>
public sealed class ImageInUseException(string message) : ImageException(ErrorKind.Refused, message);
