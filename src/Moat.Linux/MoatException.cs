namespace Moat;

/// <summary>What kind of failure a <see cref="MoatException"/> is: the CLI maps it to an exit code, an HTTP API to a
/// status, so that neither has to know every component's exception types.</summary>
public enum ErrorKind
{
    /// <summary>Moat itself failed (a broken invariant, a tool or the kernel refusing what should work): exit 1, HTTP 500.</summary>
    Internal = 0,

    /// <summary>The caller's input is not valid (a bad argument, a malformed file): exit 2, HTTP 400.</summary>
    Invalid,

    /// <summary>The input is valid but policy, permissions or the present state refuse it: exit 3, HTTP 409.</summary>
    Refused,

    /// <summary>What the input names does not exist (a sandbox, an image, a file): exit 4, HTTP 404.</summary>
    NotFound,

    /// <summary>Something Moat needs is not running or not reachable (the host agent, a server, a tool): exit 5, HTTP 503.</summary>
    Unavailable,
}

/// <summary>The root of every Moat component's exceptions: a one-sentence message for a person and a
/// <see cref="ErrorKind"/> for a program.</summary>
public class MoatException : Exception
{
    public MoatException(ErrorKind kind, string message, Exception? inner = null)
        : base(message, inner) => Kind = kind;

    /// <summary>What kind of failure this is; decides the CLI's exit code and an API's status.</summary>
    public ErrorKind Kind { get; }
}
