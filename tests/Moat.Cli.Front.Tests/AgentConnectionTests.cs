using System.Net.Sockets;
using System.Text;

namespace Moat.Cli.Front.Tests;

/// <summary>The front's one request over a Unix socket, against a peer on a socket in a temporary folder that answers
/// with chosen bytes (the real agent is exercised by Moat.Host.Tests' NativeFrontTests).</summary>
public sealed class AgentConnectionTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("moat-front-").FullName;

    private string SocketPath => Path.Combine(_dir, "agent.sock");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void No_socket_file_means_no_agent()
    {
        Assert.Null(AgentConnection.TryConnect(SocketPath));
    }

    [Fact]
    public void A_socket_nobody_listens_on_means_no_agent()
    {
        using (var bound = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            bound.Bind(new UnixDomainSocketEndPoint(SocketPath)); // bound, never listening: connect is refused
            Assert.Null(AgentConnection.TryConnect(SocketPath));
        }
    }

    [Fact]
    public async Task The_request_is_one_http_11_request_and_the_answer_is_read_to_the_end()
    {
        var (request, response) = await ExchangeAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ntrue"),
            s => AgentConnection.Send(s, "POST", "/v1/sandboxes/claim", "{\"name\":\"w\"}"u8.ToArray()));
        Assert.StartsWith("POST /v1/sandboxes/claim HTTP/1.1\r\n", request, StringComparison.Ordinal);
        Assert.Contains("\r\nHost: moat-agent\r\n", request, StringComparison.Ordinal);
        Assert.Contains("\r\nConnection: close\r\n", request, StringComparison.Ordinal);
        Assert.EndsWith("\r\nContent-Length: 12\r\n\r\n{\"name\":\"w\"}", request, StringComparison.Ordinal);
        Assert.Equal((200, "true"), (response.Status, Encoding.ASCII.GetString(response.Body)));
    }

    private async Task<(string Request, AgentResponse Response)> ExchangeAsync(byte[] answer, Func<Socket, AgentResponse> send)
    {
        using var listener = Listen();
        var peer = Task.Run(async () =>
        {
            using var conn = await listener.AcceptAsync();
            var request = await ReadRequestAsync(conn);
            await conn.SendAsync(answer);
            conn.Shutdown(SocketShutdown.Both);
            return request;
        });
        using var client = AgentConnection.TryConnect(SocketPath)!;
        var response = await Task.Run(() => send(client)).WaitAsync(TimeSpan.FromSeconds(30));
        return (await peer, response);
    }

    internal Socket Listen()
    {
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
        listener.Listen();
        return listener;
    }

    /// <summary>Reads headers and the Content-Length body the front sends.</summary>
    internal static async Task<string> ReadRequestAsync(Socket conn)
    {
        var text = new StringBuilder();
        var buffer = new byte[4096];
        while (true)
        {
            var n = await conn.ReceiveAsync(buffer);
            if (n == 0)
            {
                return text.ToString();
            }

            text.Append(Encoding.UTF8.GetString(buffer, 0, n));
            var s = text.ToString();
            var end = s.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end >= 0)
            {
                var lengthAt = s.IndexOf("Content-Length: ", StringComparison.Ordinal) + "Content-Length: ".Length;
                var length = int.Parse(s[lengthAt..s.IndexOf("\r\n", lengthAt, StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture);
                if (s.Length >= end + 4 + length)
                {
                    return s;
                }
            }
        }
    }
}

/// <summary>An agent socket that answers with too much, or not at all, gives the front one reason, bounded in memory
/// and time.</summary>
[Trait("Category", "Hostile")]
public sealed class AgentConnectionHostileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("moat-front-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task An_endless_answer_stops_at_the_bound()
    {
        var error = await SendExpectingFailureAsync(async conn =>
        {
            await conn.SendAsync("HTTP/1.1 200 OK\r\n\r\n"u8.ToArray());
            var junk = new byte[1 << 20];
            try
            {
                for (var i = 0; i < 4 * (AgentResponse.MaxBytes >> 20); i++)
                {
                    await conn.SendAsync(junk);
                }
            }
            catch (SocketException)
            {
                // The front stopped reading and closed: what is being tested.
            }
        });
        Assert.Contains("larger than 64 MiB", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_peer_that_closes_without_answering_is_named()
    {
        var error = await SendExpectingFailureAsync(_ => Task.CompletedTask);
        Assert.Contains("closed the connection without answering", error, StringComparison.Ordinal);
    }

    private async Task<string> SendExpectingFailureAsync(Func<Socket, Task> peerBehaviour)
    {
        var path = Path.Combine(_dir, "agent.sock");
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen();
        var peer = Task.Run(async () =>
        {
            using var conn = await listener.AcceptAsync();
            await AgentConnectionTests.ReadRequestAsync(conn);
            await peerBehaviour(conn);
            conn.Shutdown(SocketShutdown.Both);
        });
        using var client = AgentConnection.TryConnect(path)!;
        var e = await Task.Run(() => Assert.Throws<AgentProtocolException>(() => AgentConnection.Send(client, "GET", "/v1/sandboxes", null)))
            .WaitAsync(TimeSpan.FromSeconds(120));
        client.Dispose();
        try
        {
            await peer.WaitAsync(TimeSpan.FromSeconds(120));
        }
        catch (SocketException)
        {
            // The peer's shutdown after the front closed: irrelevant here.
        }

        return e.Message;
    }
}
