namespace Moat.Cli.Front;

/// <summary>The CLI's exit codes (docs/sandboxes.md, "Exit codes"), as the front maps the agent's HTTP answers to them.</summary>
internal static class ExitCodes
{
    public const int Internal = 1;
    public const int Usage = 2;
    public const int Refused = 3;
    public const int NotFound = 4;
    public const int Unavailable = 5;

    /// <summary>404: no such sandbox; 5xx but 503: the agent failed; 503: it cannot serve now; any other refusal (400
    /// invalid request, 403, 409 conflict): refused.</summary>
    public static int ForStatus(int status) => status switch
    {
        404 => NotFound,
        503 => Unavailable,
        >= 500 => Internal,
        _ => Refused,
    };
}
