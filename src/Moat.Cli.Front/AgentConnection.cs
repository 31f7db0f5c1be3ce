using System.Net.Sockets;
using System.Text;

namespace Moat.Cli.Front;

/// <summary>One request to the host agent's local API over its Unix socket (HTTP/1.1, Connection: close): a few system
/// calls instead of HttpClient's start-up.</summary>
internal static class AgentConnection
{
    /// <summary>Connects to the agent; null when nothing listens there (no socket file, or no agent behind it), which the
    /// caller answers by handing the command line to the full CLI, since nothing was sent.</summary>
    public static Socket? TryConnect(string socketPath)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Connect(new UnixDomainSocketEndPoint(socketPath));
            return socket;
        }
        catch (SocketException)
        {
            socket.Dispose();
            return null;
        }
    }

    /// <summary>Sends one request on a connected socket and reads the whole response.</summary>
    /// <exception cref="AgentProtocolException">The agent closed early or answered with something that is not a response.</exception>
    public static AgentResponse Send(Socket socket, string method, string path, byte[]? body)
    {
        ArgumentNullException.ThrowIfNull(socket);
        var head = $"{method} {path} HTTP/1.1\r\nHost: moat-agent\r\nConnection: close\r\n"
            + (body is null ? "Content-Length: 0\r\n\r\n" : $"Content-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n");
        try
        {
            socket.Send(Encoding.ASCII.GetBytes(head));
            if (body is { Length: > 0 })
            {
                socket.Send(body);
            }

            var buffer = new byte[64 * 1024];
            var used = 0;
            while (true)
            {
                if (used == buffer.Length)
                {
                    if (buffer.Length >= AgentResponse.MaxBytes)
                    {
                        throw new AgentProtocolException($"the answer is larger than {AgentResponse.MaxBytes >> 20} MiB");
                    }

                    Array.Resize(ref buffer, Math.Min(buffer.Length * 2, AgentResponse.MaxBytes));
                }

                var n = socket.Receive(buffer, used, buffer.Length - used, SocketFlags.None);
                if (n == 0)
                {
                    break;
                }

                used += n;
            }

            return AgentResponse.Parse(buffer.AsSpan(0, used), out var error)
                ?? throw new AgentProtocolException(used == 0 ? "the agent closed the connection without answering" : error!);
        }
        catch (SocketException e)
        {
            throw new AgentProtocolException($"the connection to the agent failed: {e.Message}");
        }
    }
}

/// <summary>The agent's answer could not be read.</summary>
internal sealed class AgentProtocolException(string message) : Exception(message);
