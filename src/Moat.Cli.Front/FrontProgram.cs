using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using Moat.Linux.Processes;

namespace Moat.Cli.Front;

/// <summary>
/// The native `moat`: answers <see cref="FrontCommand"/>'s verbs itself and replaces itself (execv: same pid, same
/// descriptors, same exit code) with the full CLI for every other command line, and also when no agent listens, so that
/// the full CLI gives its own one-sentence answer. Output and exit codes are the full CLI's.
/// </summary>
internal static class FrontProgram
{
    /// <summary>Where the full (JIT, ReadyToRun) CLI is, when not beside this program as full/moat.</summary>
    public const string FullCliVariable = "MOAT_FULL_CLI";

    public static int Run(string[] args)
    {
        var command = FrontCommand.Parse(args);
        if (command is null)
        {
            return HandOver(args);
        }

        if (command.Verb == FrontVerb.Version)
        {
            Out(Version + "\n");
            return 0;
        }

        var stateDir = command.StateDir ?? Environment.GetEnvironmentVariable("MOAT_STATE_DIR") ?? "/var/lib/moat";
        var socketPath = Path.Combine(stateDir, "agent.sock");
        try
        {
            return command.Verb switch
            {
                FrontVerb.List => List(command, socketPath, args),
                FrontVerb.Remove => Remove(command, socketPath, args),
                FrontVerb.Run => Claim(command, socketPath, args),
                _ => Exec(command, socketPath, args),
            };
        }
        catch (AgentProtocolException e)
        {
            return Error($"the host agent on {socketPath} did not answer as expected: {e.Message}.", ExitCodes.Unavailable);
        }
    }

    /// <summary>The version the full CLI prints for --version (both are built from the same tree).</summary>
    internal static string Version =>
        typeof(FrontProgram).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    private static int List(FrontCommand c, string socketPath, string[] args)
    {
        if (Call(socketPath, "GET", "/v1/sandboxes", null, args, out var body) is { } failed)
        {
            return failed;
        }

        using var doc = JsonDocument.Parse(body);
        var shown = doc.RootElement.EnumerateArray().Where(s => c.All || IsNull(s, "poolImage")).ToList();
        if (c.Json)
        {
            Out(Indented(w =>
            {
                w.WriteStartArray();
                shown.ForEach(s => Copy(s, w, null));
                w.WriteEndArray();
            }));
            return 0;
        }

        string[] headers = ["ID", "NAME", "STATE", "TIER", "ADDRESS", "IMAGE", "MEMORY", "CPUS", "CLIENT", "CREATED"];
        var rows = shown.Select(s =>
        {
            var spec = s.GetProperty("spec");
            return new[]
            {
                Text(s, "id"), IsNull(s, "name") ? (IsNull(s, "poolImage") ? "-" : "(pool)") : Text(s, "name"),
                Text(s, "state").ToLowerInvariant(), Text(s, "tier"), IsNull(s, "address") ? "-" : Text(s, "address"),
                Text(spec, "image"), $"{spec.GetProperty("memoryBytes").GetInt64() / (1024 * 1024)}M",
                spec.GetProperty("cpus").GetDouble().ToString(CultureInfo.InvariantCulture), Text(spec, "client"),
                s.GetProperty("createdAt").GetDateTimeOffset().ToString("u", CultureInfo.InvariantCulture),
            };
        }).ToList();
        var widths = headers.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToArray();
        var text = new StringBuilder();
        foreach (var r in rows.Prepend(headers))
        {
            text.Append(string.Join("  ", r.Select((cell, i) => i == r.Length - 1 ? cell : cell.PadRight(widths[i]))).TrimEnd()).Append('\n');
        }

        Out(text.ToString());
        return 0;
    }

    private static int Remove(FrontCommand c, string socketPath, string[] args)
    {
        var first = true;
        foreach (var target in c.Targets)
        {
            // Only the first request may hand over (nothing was done yet); later ones report the agent's absence.
            if (Call(socketPath, "DELETE", "/v1/sandboxes/" + Uri.EscapeDataString(target), null, first ? args : null, out _) is { } failed)
            {
                return failed;
            }

            first = false;
            if (!c.Json)
            {
                Out($"{target}  destroyed\n");
            }
        }

        return 0;
    }

    private static int Claim(FrontCommand c, string socketPath, string[] args)
    {
        var request = Utf8(w =>
        {
            w.WriteStartObject();
            foreach (var (key, value) in c.Spec)
            {
                w.WritePropertyName(key);
                WriteValue(w, value);
            }

            w.WriteEndObject();
        }, indented: false);
        var sw = Stopwatch.StartNew();
        if (Call(socketPath, "POST", "/v1/sandboxes/claim", request, args, out var body) is { } failed)
        {
            return failed;
        }

        var elapsed = sw.Elapsed.TotalMilliseconds;
        using var doc = JsonDocument.Parse(body);
        var sandbox = doc.RootElement.GetProperty("sandbox");
        var fromPool = doc.RootElement.GetProperty("fromPool").GetBoolean();
        if (c.Json)
        {
            Out(Indented(w =>
            {
                w.WriteStartObject();
                w.WritePropertyName("sandbox");
                Copy(sandbox, w, null);
                w.WriteBoolean("fromPool", fromPool);
                w.WriteNumber("elapsedMs", elapsed);
                w.WriteEndObject();
            }));
        }
        else
        {
            var name = IsNull(sandbox, "name") ? Text(sandbox, "id") : Text(sandbox, "name");
            var address = IsNull(sandbox, "address") ? "" : Text(sandbox, "address");
            Out(string.Create(CultureInfo.InvariantCulture,
                $"{Text(sandbox, "id")}  {name}  {Text(sandbox, "state").ToLowerInvariant()}  {address}  ({(fromPool ? "warm pool, " : "cold, ")}{elapsed:F1} ms)\n"));
        }

        return 0;
    }

    private static int Exec(FrontCommand c, string socketPath, string[] args)
    {
        var request = Utf8(w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("command");
            foreach (var a in c.Command)
            {
                w.WriteStringValue(a);
            }

            w.WriteEndArray();
            w.WriteStartObject("env");
            foreach (var (k, v) in c.Env)
            {
                w.WriteString(k, v);
            }

            w.WriteEndObject();
            w.WriteNumber("timeoutSeconds", c.TimeoutSeconds);
            w.WriteEndObject();
        }, indented: false);
        if (Call(socketPath, "POST", $"/v1/sandboxes/{Uri.EscapeDataString(c.Targets[0])}/exec", request, args, out var body) is { } failed)
        {
            return failed;
        }

        using var doc = JsonDocument.Parse(body);
        var result = doc.RootElement;
        if (c.Json)
        {
            Out(Indented(w => Copy(result, w, null)));
        }
        else
        {
            Out(Text(result, "stdout"));
            Err(Text(result, "stderr"));
        }

        return result.GetProperty("exitCode").GetInt32();
    }

    /// <summary>One request; null when the agent answered 2xx (its body in <paramref name="body"/>), else the exit code
    /// after the error was printed. When no agent listens and <paramref name="handOverArgs"/> is given, this process
    /// becomes the full CLI with them (which explains the absence in its own words) and does not return.</summary>
    private static int? Call(string socketPath, string method, string path, byte[]? request, string[]? handOverArgs, out byte[] body)
    {
        body = [];
        using var socket = AgentConnection.TryConnect(socketPath);
        if (socket is null)
        {
            return handOverArgs is null
                ? Error($"no host agent is listening on {socketPath}; start one with 'moat host' (or pass --state-dir).", ExitCodes.Unavailable)
                : HandOver(handOverArgs);
        }

        var response = AgentConnection.Send(socket, method, path, request);
        if (response.Status is >= 200 and < 300)
        {
            body = response.Body;
            return null;
        }

        return Error(Detail(response), ExitCodes.ForStatus(response.Status));
    }

    /// <summary>The agent's one-sentence reason: a problem document's detail, else the body itself.</summary>
    private static string Detail(AgentResponse response)
    {
        var text = Encoding.UTF8.GetString(response.Body);
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("detail", out var d) && d.ValueKind == JsonValueKind.String)
            {
                return d.GetString()!;
            }
        }
        catch (JsonException)
        {
            // Not a problem document: the body itself is the best message there is.
        }

        return text.Length == 0 ? $"the host agent answered HTTP {response.Status}" : text;
    }

    /// <summary>Becomes the full CLI with the same arguments; returns only when that cannot be done.</summary>
    internal static int HandOver(string[] args)
    {
        var full = FullCliPath();
        if (!File.Exists(full))
        {
            return Error($"the full CLI is not at {full}: run scripts/setup, or set {FullCliVariable} to its path.", ExitCodes.Internal);
        }

        Console.Out.Flush();
        var failure = ProcessImage.Replace(full, [full, .. args]);
        return Error($"could not start the full CLI {full}: {failure.Message}", ExitCodes.Internal);
    }

    internal static string FullCliPath()
    {
        if (Environment.GetEnvironmentVariable(FullCliVariable) is { Length: > 0 } set)
        {
            return set;
        }

        // Beside this program's real file (artifacts/moat -> artifacts/full/moat), even when called through a link.
        var self = new FileInfo(Environment.ProcessPath ?? "/proc/self/exe");
        var real = self.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? self.FullName;
        return Path.Combine(Path.GetDirectoryName(real)!, "full", "moat");
    }

    /// <summary>Writes an agent's JSON value as the full CLI would after reading it into its types: strings re-escaped by
    /// this writer (the agent's encoder escapes '+', the full CLI's date writer does not), the <see cref="DateTimeOffsetFields"/>
    /// written as dates, everything else (numbers, literals) as the agent wrote it.</summary>
    private static void Copy(JsonElement e, Utf8JsonWriter w, string? property)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                w.WriteStartObject();
                foreach (var p in e.EnumerateObject())
                {
                    w.WritePropertyName(p.Name);
                    Copy(p.Value, w, p.Name);
                }

                w.WriteEndObject();
                break;
            case JsonValueKind.Array:
                w.WriteStartArray();
                foreach (var item in e.EnumerateArray())
                {
                    Copy(item, w, null);
                }

                w.WriteEndArray();
                break;
            case JsonValueKind.String when property is not null && DateTimeOffsetFields.Contains(property) && e.TryGetDateTimeOffset(out var date):
                w.WriteStringValue(date);
                break;
            case JsonValueKind.String:
                w.WriteStringValue(e.GetString());
                break;
            default:
                e.WriteTo(w);
                break;
        }
    }

    /// <summary>The <see cref="DateTimeOffset"/> properties of the records the served verbs print (Sandbox).</summary>
    private static readonly string[] DateTimeOffsetFields = ["createdAt", "startedAt"];

    private static bool IsNull(JsonElement e, string name) => !e.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null;

    private static string Text(JsonElement e, string name) => e.GetProperty(name).GetString() ?? "";

    private static void WriteValue(Utf8JsonWriter w, object value)
    {
        switch (value)
        {
            case string s:
                w.WriteStringValue(s);
                break;
            case bool b:
                w.WriteBooleanValue(b);
                break;
            case long l:
                w.WriteNumberValue(l);
                break;
            case int i:
                w.WriteNumberValue(i);
                break;
            case double d:
                w.WriteNumberValue(d);
                break;
            case string[] list:
                w.WriteStartArray();
                Array.ForEach(list, w.WriteStringValue);
                w.WriteEndArray();
                break;
            case IReadOnlyDictionary<string, string> map:
                w.WriteStartObject();
                foreach (var (k, v) in map)
                {
                    w.WriteString(k, v);
                }

                w.WriteEndObject();
                break;
            default:
                throw new UnreachableException($"no JSON form for {value.GetType().Name}");
        }
    }

    private static byte[] Utf8(Action<Utf8JsonWriter> write, bool indented)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = indented }))
        {
            write(w);
        }

        return stream.ToArray();
    }

    private static string Indented(Action<Utf8JsonWriter> write) => Encoding.UTF8.GetString(Utf8(write, indented: true)) + "\n";

    private static void Out(string text) => Write(Console.OpenStandardOutput(), text);

    private static void Err(string text) => Write(Console.OpenStandardError(), text);

    private static void Write(Stream stream, string text)
    {
        if (text.Length > 0)
        {
            stream.Write(Encoding.UTF8.GetBytes(text));
            stream.Flush();
        }
    }

    private static int Error(string message, int code)
    {
        Err($"moat: {message}\n");
        return code;
    }
}
