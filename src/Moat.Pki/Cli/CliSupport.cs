using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Moat.Pki.Cli;

/// <summary>What the pki and authcert verbs share: durations, addresses, error handling and JSON output.</summary>
internal static class CliSupport
{
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter() },
        TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver(),
    };

    public static Option<bool> JsonOption() => new("--json") { Description = "Print the result as JSON for scripts." };

    /// <summary>Parses "90s", "30m", "1h", "7d" or a TimeSpan ("01:00:00").</summary>
    public static TimeSpan ParseDuration(string text, string optionName)
    {
        var trimmed = text.Trim();
        if (trimmed.Length >= 2
            && double.TryParse(trimmed[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            && value > 0)
        {
            switch (char.ToLowerInvariant(trimmed[^1]))
            {
                case 's': return TimeSpan.FromSeconds(value);
                case 'm': return TimeSpan.FromMinutes(value);
                case 'h': return TimeSpan.FromHours(value);
                case 'd': return TimeSpan.FromDays(value);
                default: break;
            }
        }

        if (TimeSpan.TryParse(trimmed, CultureInfo.InvariantCulture, out var span) && span > TimeSpan.Zero)
        {
            return span;
        }

        throw new PkiInputException($"{optionName} '{text}' is not a positive duration; use a number with s, m, h or d, for example 1h or 365d.");
    }

    public static IPAddress ParseAddress(string text, string optionName) =>
        IPAddress.TryParse(text, out var address) && text.Contains(address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? '.' : ':')
            ? address
            : throw new PkiInputException($"{optionName} '{text}' is not an IPv4 or IPv6 address; give one such as 198.18.1.5.");

    public static IPNetwork ParsePrefix(string text, string optionName)
    {
        // The address part must equal the network address: 198.18.0.1/16 is refused rather than silently widened.
        if (!IPNetwork.TryParse(text, out var prefix)
            || !IPAddress.TryParse(text.Split('/')[0], out var written)
            || !written.Equals(prefix.BaseAddress))
        {
            throw new PkiInputException($"{optionName} '{text}' is not an address prefix with its host bits zero; give one such as 198.18.0.0/16.");
        }

        return prefix;
    }

    public static string LedgerPathFor(string caCertificatePath) => caCertificatePath + ".ledger.json";

    /// <summary>Runs a verb body, turning bad input into one sentence on stderr and exit code 2.</summary>
    public static async Task<int> RunAsync(ParseResult parseResult, Func<TextWriter, Task<int>> body)
    {
        var output = parseResult.InvocationConfiguration.Output;
        var error = parseResult.InvocationConfiguration.Error;
        try
        {
            return await body(output).ConfigureAwait(false);
        }
        catch (PkiInputException ex)
        {
            await error.WriteLineAsync(ex.Message).ConfigureAwait(false);
            return 2;
        }
    }

    public static Task WriteJsonAsync<T>(TextWriter output, T value) =>
        output.WriteLineAsync(JsonSerializer.Serialize(value, Json));
}
