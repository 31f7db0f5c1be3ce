using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Moat.Honeyfarm.Clones;
using Moat.Honeyfarm.Gateway;

namespace Moat.Honeyfarm.Control;

/// <summary>
/// A running gateway's control socket (a Unix socket, mode 0600: root only): one request line in, one JSON line out,
/// so `moat honeyfarm status|universes|clones|kept|export|close` reach the gateway that `moat honeyfarm run` started.
/// A malformed or unknown request gets <c>{"error": "..."}</c>; a slow or oversized one is cut off.
/// </summary>
public sealed class ControlServer : IAsyncDisposable
{
    /// <summary>The requests, as `--help` and error answers list them.</summary>
    public const string Requests = "status, universes, clones, kept, export, close ID";

    private const int MaxRequestBytes = 256;
    private readonly HoneyfarmGateway _gateway;
    private readonly HoneyfarmOptions _options;
    private readonly Socket _listener;
    private readonly string _path;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accept;

    private ControlServer(HoneyfarmGateway gateway, Socket listener, string path)
    {
        _gateway = gateway;
        _options = gateway.Options;
        _listener = listener;
        _path = path;
        _accept = Task.Run(AcceptAsync);
    }

    public static ControlServer Start(HoneyfarmGateway gateway, string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.Delete(path); // a socket file a stopped gateway left
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(path));
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            listener.Listen(16);
            return new ControlServer(gateway, listener, path);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using (client)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            try
            {
                var request = await ReadLineAsync(client, timeout.Token).ConfigureAwait(false);
                JsonNode answer;
                try
                {
                    answer = request is null
                        ? Error($"a request is one line of at most {MaxRequestBytes} bytes; valid requests: {Requests}")
                        : await AnswerAsync(request.Trim(), timeout.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not (OperationCanceledException or OutOfMemoryException))
                {
                    // Whatever went wrong is the caller's answer; the socket goes on serving.
                    answer = Error($"{request?.Trim()} failed: {e.GetType().Name}: {e.Message}");
                }

                await client.SendAsync(Encoding.UTF8.GetBytes(answer.ToJsonString() + "\n"), SocketFlags.None, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException)
            {
                // The caller went away or took too long: nothing to answer.
            }
        }
    }

    private static async Task<string?> ReadLineAsync(Socket client, CancellationToken cancellationToken)
    {
        var buffer = new byte[MaxRequestBytes + 1];
        var length = 0;
        while (length < buffer.Length)
        {
            var n = await client.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }

            length += n;
            var newline = Array.IndexOf(buffer, (byte)'\n', 0, length);
            if (newline >= 0)
            {
                return Encoding.UTF8.GetString(buffer, 0, newline);
            }
        }

        return length is > 0 and <= MaxRequestBytes ? Encoding.UTF8.GetString(buffer, 0, length) : null;
    }

    private async Task<JsonNode> AnswerAsync(string request, CancellationToken cancellationToken)
    {
        var words = request.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        switch (words)
        {
            case ["status"]:
                return await StatusAsync(cancellationToken).ConfigureAwait(false);
            case ["universes"]:
                return Universes();
            case ["clones"]:
                return Clones();
            case ["kept"]:
                return Kept();
            case ["export"]:
                return new JsonObject
                {
                    ["exportedAt"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
                    ["status"] = await StatusAsync(cancellationToken).ConfigureAwait(false),
                    ["universes"] = Universes(),
                    ["kept"] = Kept(),
                };
            case ["close", var id] when int.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var universe):
                return new JsonObject { ["universe"] = universe, ["closed"] = await _gateway.CloseUniverseAsync(universe).ConfigureAwait(false) };
            default:
                return Error($"unknown request '{(request.Length > 40 ? request[..40] + "..." : request)}'; valid requests: {Requests}");
        }
    }

    private async Task<JsonObject> StatusAsync(CancellationToken cancellationToken)
    {
        var c = _gateway.Counters;
        return new JsonObject
        {
            ["range"] = _options.DarkRange.ToString(),
            ["policy"] = _options.Export.ToString(),
            ["clones"] = _options.Containers is null ? "in-process" : _options.Containers.Runtime,
            ["counters"] = JsonSerializer.SerializeToNode(c, Json),
            ["blockedPackets"] = await _gateway.BlockedPacketsAsync(cancellationToken).ConfigureAwait(false),
        };
    }

    private JsonArray Universes() => [.. _gateway.Universes().Select(u => (JsonNode)new JsonObject
    {
        ["id"] = u.Id,
        ["attacker"] = u.Attacker?.ToString(),
        ["clones"] = new JsonArray([.. u.Clones.Select(Clone)]),
        ["infections"] = new JsonArray([.. u.Infections.Select(i => (JsonNode)new JsonObject { ["from"] = i.From.ToString(), ["to"] = i.To.ToString() })]),
        ["capture"] = u.Capture,
    })];

    private JsonArray Clones() => [.. _gateway.Universes().SelectMany(u => u.Clones).Select(Clone)];

    private static JsonNode Clone(Universes.CloneStatus c) => new JsonObject
    {
        ["address"] = c.Address.ToString(),
        ["universe"] = c.Universe,
        ["name"] = c.Name,
        ["host"] = c.HostName,
        ["personality"] = c.Personality,
        ["contacts"] = c.Contacts < 0 ? null : c.Contacts,
    };

    private JsonNode Kept() => JsonSerializer.SerializeToNode(_gateway.KeptClones, ContainerServices.KeptJson)!;

    private static JsonObject Error(string message) => new() { ["error"] = message };

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        await _accept.ConfigureAwait(false);
        File.Delete(_path);
        _stop.Dispose();
    }
}

/// <summary>The other end: sends one request to a gateway's control socket and returns its JSON answer.</summary>
public static class ControlClient
{
    public static async Task<JsonNode> RequestAsync(string path, string request, CancellationToken cancellationToken = default)
    {
        if (!File.Exists(path))
        {
            throw new HoneyfarmException($"No honeyfarm gateway answers at {path}: start one with `moat honeyfarm run`, or name its socket with --socket.", kind: ErrorKind.Unavailable);
        }

        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), timeout.Token).ConfigureAwait(false);
            await socket.SendAsync(Encoding.UTF8.GetBytes(request + "\n"), SocketFlags.None, timeout.Token).ConfigureAwait(false);
            using var answer = new MemoryStream();
            var buffer = new byte[16384];
            int n;
            while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token).ConfigureAwait(false)) > 0)
            {
                answer.Write(buffer, 0, n);
            }

            return JsonNode.Parse(answer.ToArray()) ?? throw new HoneyfarmException($"The gateway at {path} answered nothing.");
        }
        catch (SocketException e)
        {
            throw new HoneyfarmException($"No honeyfarm gateway answers at {path} ({e.Message}): is `moat honeyfarm run` still running?", e, ErrorKind.Unavailable);
        }
        catch (JsonException e)
        {
            throw new HoneyfarmException($"The gateway at {path} answered something that is not JSON: {e.Message}", e);
        }
    }
}
