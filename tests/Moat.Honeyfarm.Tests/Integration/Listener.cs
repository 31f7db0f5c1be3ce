using System.Net;
using System.Net.Sockets;
using Moat.Linux.Namespaces;

namespace Moat.Honeyfarm.Tests.Integration;

/// <summary>A TCP listener in the test internet that counts what reaches it: the "nothing forbidden appears" witness.</summary>
internal sealed class Listener : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly IPEndPoint _endPoint;
    private int _accepted;

    private Listener(Socket socket, IPEndPoint endPoint)
    {
        _socket = socket;
        _endPoint = endPoint;
        _loop = AcceptLoopAsync();
    }

    public int Accepted => Volatile.Read(ref _accepted);

    public static Task<Listener> StartAsync(NetworkNamespace ns, IPAddress address, int port)
    {
        var endPoint = new IPEndPoint(address, port);
        var socket = NamespaceRunner.Run(ns, () =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            s.Bind(endPoint);
            s.Listen(16);
            return s;
        });
        return Task.FromResult(new Listener(socket, endPoint));
    }

    /// <summary>Connects to this listener from inside <paramref name="ns"/>; true when the connection was accepted.</summary>
    public async Task<bool> ConnectFromAsync(NetworkNamespace ns, TimeSpan deadline)
    {
        using var socket = NamespaceRunner.Run(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        using var timeout = new CancellationTokenSource(deadline);
        try
        {
            await socket.ConnectAsync(_endPoint, timeout.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException)
        {
            return false;
        }

        return await FarmTopology.EventuallyAsync(() => Accepted > 0, deadline);
    }

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (true)
            {
                using var client = await _socket.AcceptAsync(_stop.Token);
                Interlocked.Increment(ref _accepted);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _socket.Dispose();
        await _loop;
        _stop.Dispose();
    }
}
