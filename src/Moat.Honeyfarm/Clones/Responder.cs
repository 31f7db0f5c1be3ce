using System.Net;
using System.Net.Sockets;
using System.Text;
using Moat.Honeyfarm.Limits;
using Moat.Linux.Namespaces;

namespace Moat.Honeyfarm.Clones;

/// <summary>
/// A clone's services: TCP listeners that greet with the personality's banner and echo, UDP sockets that answer
/// within a <see cref="UdpReplyBudget"/> (to a sender that has not connected over TCP, never more bytes than it sent).
/// The sockets are made inside the clone's namespace before it has an address (bound to 0.0.0.0), so a claimed
/// clone answers at once; their loops run on the pool. The greeting names the clone, its universe and the address
/// the client reached, which is what the tests and the analyst see.
/// </summary>
internal sealed class Responder : ICloneServices
{
    private readonly List<Socket> _sockets;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];
    private readonly Func<string> _describe;
    private readonly UdpReplyBudget _udp;
    private long _connections;
    private int _disposed;

    private Responder(List<Socket> sockets, Func<string> describe, UdpReplyBudget udp)
    {
        _sockets = sockets;
        _describe = describe;
        _udp = udp;
    }

    /// <summary>Connections and datagrams received, i.e. whether anyone has talked to the clone.</summary>
    public long Contacts => Interlocked.Read(ref _connections);

    public string Kind => "in-process responder";

    /// <summary>The greeting reads the clone's description live; nothing to tell.</summary>
    public void Bound(string describe)
    {
    }

    /// <summary>In-process services hold no tenant state: nothing to keep.</summary>
    public async Task<KeptClone?> RetireAsync(string describe, bool attemptedOutbound, CancellationToken cancellationToken)
    {
        await DisposeAsync().ConfigureAwait(false);
        return null;
    }

    /// <summary>Starts in-process services whose UDP answers stay within <paramref name="udp"/>.</summary>
    public static CloneServicesFactory Factory(UdpReplyLimits udp, TimeProvider time) =>
        (ns, name, personality, identity, describe, cancellationToken) => Task.FromResult<ICloneServices>(Start(ns, personality, describe, udp, time));

    public static Responder Start(NetworkNamespace ns, Personality personality, Func<string> describe, UdpReplyLimits? udp = null, TimeProvider? time = null)
    {
        var sockets = NamespaceRunner.Run(ns, () =>
        {
            var made = new List<Socket>();
            try
            {
                foreach (var port in personality.TcpPorts)
                {
                    var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    made.Add(listener);
                    listener.Bind(new IPEndPoint(IPAddress.Any, port));
                    listener.Listen(64);
                }

                foreach (var port in personality.UdpPorts)
                {
                    var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                    made.Add(udp);
                    udp.Bind(new IPEndPoint(IPAddress.Any, port));
                }

                return made;
            }
            catch
            {
                made.ForEach(s => s.Dispose());
                throw;
            }
        });
        var responder = new Responder(sockets, () => personality.Banner + "\r\n" + describe() + "\r\n", new UdpReplyBudget(udp ?? UdpReplyLimits.Default, time ?? TimeProvider.System));
        foreach (var socket in sockets)
        {
            responder._loops.Add(socket.SocketType == SocketType.Stream ? responder.AcceptLoopAsync(socket) : responder.DatagramLoopAsync(socket));
        }

        return responder;
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        var token = _stop.Token;
        try
        {
            while (!token.IsCancellationRequested)
            {
                var client = await listener.AcceptAsync(token).ConfigureAwait(false);
                Interlocked.Increment(ref _connections);
                if (client.RemoteEndPoint is IPEndPoint peer)
                {
                    // A completed handshake: the peer answered our SYN-ACK, so it receives at its address.
                    _udp.Verified(peer.Address);
                }

                _ = ServeAsync(client, token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // Stopping: the listener was closed under the accept.
        }
    }

    private async Task ServeAsync(Socket client, CancellationToken token)
    {
        using (client)
        {
            try
            {
                await client.SendAsync(Encoding.ASCII.GetBytes(_describe()), SocketFlags.None, token).ConfigureAwait(false);
                var buffer = new byte[4096];
                for (var total = 0; total < 1 << 20;)
                {
                    var n = await client.ReceiveAsync(buffer, SocketFlags.None, token).ConfigureAwait(false);
                    if (n == 0)
                    {
                        break;
                    }

                    total += n;
                    await client.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, token).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                // The peer went away or the clone is being recycled; nothing to keep.
            }
        }
    }

    private async Task DatagramLoopAsync(Socket socket)
    {
        var token = _stop.Token;
        var buffer = new byte[2048];
        try
        {
            while (!token.IsCancellationRequested)
            {
                var received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), token).ConfigureAwait(false);
                Interlocked.Increment(ref _connections);
                var answer = Encoding.ASCII.GetBytes(_describe());
                var allowed = _udp.Allowed(((IPEndPoint)received.RemoteEndPoint).Address, received.ReceivedBytes, answer.Length);
                if (allowed > 0)
                {
                    await socket.SendToAsync(answer.AsMemory(0, allowed), SocketFlags.None, received.RemoteEndPoint, token).ConfigureAwait(false);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // Stopping.
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }

        await Task.WhenAll(_loops).ConfigureAwait(false);
        _stop.Dispose();
    }
}
