using System.CommandLine;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Moat.Cli.Output;

/// <summary>
/// The one error path of the CLI: any failure of any verb becomes one sentence on stderr and one exit code from
/// <see cref="ExitCodes"/>. Verbs throw; they do not print their own errors or choose their own codes.
/// </summary>
internal static partial class Failure
{
    /// <summary>Prints the failure as one line on stderr (and, with --debug, the whole exception after it) and returns
    /// the exit code its kind maps to.</summary>
    public static int Report(Exception e, ParseResult parse, bool debug)
    {
        var (kind, message) = Describe(e);
        Console.Error.WriteLine($"moat: {OneLine(message)}");
        if (debug)
        {
            Console.Error.WriteLine(e.ToString());
        }

        // A verb that runs a command passes the command's own exit code through, so moat's own failure needs a code
        // no command is expected to use (125, as podman and docker do).
        return parse.CommandResult.Command is PassThroughCommand ? ExitCodes.PassThroughFailure : ExitCodes.Of(kind);
    }

    /// <summary>The kind and one-sentence message of a failure, whatever threw it.</summary>
    public static (ErrorKind Kind, string Message) Describe(Exception e) => Unwrap(e) switch
    {
        MoatException m => (m.Kind, m.Message),
        FileNotFoundException f => (ErrorKind.NotFound, f.FileName is { } name ? $"{name} does not exist; give the path of an existing file." : f.Message),
        DirectoryNotFoundException d => (ErrorKind.NotFound, d.Message),
        UnauthorizedAccessException u => (ErrorKind.Refused, u.Message),
        ArgumentNullException n => (ErrorKind.Internal, Internal(n)),
        FormatException or ArgumentException or JsonException or InvalidDataException or System.Xml.XmlException or CryptographicException or OverflowException => (ErrorKind.Invalid, Unwrap(e).Message),
        SocketException or TimeoutException or HttpRequestException => (ErrorKind.Unavailable, Unwrap(e).Message),
        IOException io => (ErrorKind.Internal, io.Message),
        var other => (ErrorKind.Internal, Internal(other)),
    };

    private static string Internal(Exception e) => $"internal error ({e.GetType().Name}): {e.Message} Run again with --debug for the stack trace.";

    /// <summary>The exception that says what went wrong, under the wrappers the runtime and HttpClient put round it.</summary>
    private static Exception Unwrap(Exception e)
    {
        while (true)
        {
            switch (e)
            {
                case AggregateException { InnerExceptions.Count: 1 } a:
                    e = a.InnerExceptions[0];
                    break;
                case System.Reflection.TargetInvocationException { InnerException: { } inner }:
                    e = inner;
                    break;
                case HttpRequestException { InnerException: MoatException inner }:
                    e = inner;
                    break;
                default:
                    return e;
            }
        }
    }

    private static string OneLine(string message) => Whitespace().Replace(message, " ").Trim();

    [GeneratedRegex(@"\s*[\r\n]+\s*")]
    private static partial Regex Whitespace();
}

/// <summary>The exit codes of every verb (README, "Exit codes").</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int Internal = 1;
    public const int Usage = 2;
    public const int Refused = 3;
    public const int NotFound = 4;
    public const int Unavailable = 5;

    /// <summary>moat itself failed in a verb that otherwise exits with its command's own code (sandbox exec).</summary>
    public const int PassThroughFailure = 125;

    /// <summary>Ctrl-C or SIGTERM stopped the verb (128 + SIGINT, as shells report it).</summary>
    public const int Interrupted = 130;

    public static int Of(ErrorKind kind) => kind switch
    {
        ErrorKind.Invalid => Usage,
        ErrorKind.Refused => Refused,
        ErrorKind.NotFound => NotFound,
        ErrorKind.Unavailable => Unavailable,
        _ => Internal,
    };
}

/// <summary>A verb that runs a command and exits with that command's exit code; its own failures exit 125.</summary>
internal sealed class PassThroughCommand(string name, string? description = null) : Command(name, description);
