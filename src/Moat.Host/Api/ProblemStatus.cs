namespace Moat.Host.Api;

/// <summary>The HTTP status each kind of <see cref="MoatException"/> is answered with.</summary>
public static class ProblemStatus
{
    public static int Of(ErrorKind kind) => kind switch
    {
        ErrorKind.Invalid => 400,
        ErrorKind.NotFound => 404,
        ErrorKind.Refused => 409,
        ErrorKind.Unavailable => 503,
        _ => 500,
    };
}
