using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Moat.Linux.Namespaces;
using Moat.Linux.Sockets;

namespace Moat.Containment.Resolver;

/// <summary>The resolver's sockets: one UDP socket and one TCP listener on <see cref="EgressResolverOptions.Listen"/>.</summary>
public sealed partial class EgressResolver
{
    /// <summary>UDP queries answered at once; past it a datagram waits in the socket's queue (and is dropped when that is full).</summary>
    private const int UdpInFlight = 256;

    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];
    private Socket? _udp;
    private Socket? _tcp;

    /// <summary>Binds the UDP socket and TCP listener (IP_FREEBIND: the address may not exist yet) and starts serving.</summary>
    /// <exception cref="ContainmentException">The address and port cannot be bound.</exception>
    public void Start()
    {
        try
        {
            _udp = NamespacedSockets.BindFree(_namespace, SocketType.Dgram, _options.Listen);
            // IP_PKTINFO: each datagram says which interface it came in on, so a forged source address is told apart.
            _udp.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.PacketInformation, true);
            _tcp = NamespacedSockets.BindFree(_namespace, SocketType.Stream, _options.Listen);
            _tcp.Listen(128);
        }
        catch (SocketException e)
        {
            _udp?.Dispose();
            _tcp?.Dispose();
            throw new ContainmentException($"The egress resolver cannot listen on {_options.Listen}: {e.Message}; stop what holds that port, or run without --dns-upstream.", e);
        }

        _loops.Add(Task.Run(() => UdpLoopAsync(_udp, _stop.Token)));
        _loops.Add(Task.Run(() => TcpLoopAsync(_tcp, _stop.Token)));
        LogListening(_logger, _options.Listen.ToString(), _options.Upstream.ToString());
    }

    /// <summary>Stops serving without waiting for the loops (they end on their closed sockets); for synchronous owners.</summary>
    public void Dispose()
    {
        _stop.Cancel();
        _udp?.Dispose();
        _tcp?.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _udp?.Dispose();
        _tcp?.Dispose();
        try
        {
            await Task.WhenAll(_loops).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // Stopped.
        }

        _stop.Dispose();
    }

    private async Task UdpLoopAsync(Socket socket, CancellationToken stop)
    {
        using var slots = new SemaphoreSlim(UdpInFlight);
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var buffer = new byte[ushort.MaxValue];
                var received = await socket.ReceiveMessageFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), stop).ConfigureAwait(false);
                await slots.WaitAsync(stop).ConfigureAwait(false);
                var from = (IPEndPoint)received.RemoteEndPoint;
                var length = received.ReceivedBytes;
                var arrivedOn = InterfaceName(received.PacketInformation.Interface);
                _ = Task.Run(
                    async () =>
                    {
                        try
                        {
                            var answer = await AnswerAsync(from, buffer.AsMemory(0, length), overTcp: false, stop, arrivedOn).ConfigureAwait(false);
                            if (answer is not null)
                            {
                                await socket.SendToAsync(answer, from, stop).ConfigureAwait(false);
                            }
                        }
                        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
                        {
                            // Stopping, or the sandbox went away.
                        }
                        finally
                        {
                            slots.Release();
                        }
                    },
                    CancellationToken.None);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
        {
            // Stopped.
        }
        catch (SocketException e)
        {
            LogLoopFailed(_logger, "udp", e.Message);
        }
    }

    // Interface names by index in the resolver's namespace, refreshed when an index is not known (links come and go
    // with sandboxes; an index is not reused while its link exists). "" when the kernel did not say.
    private readonly Dictionary<int, string> _interfaceNames = [];

    private string? InterfaceName(int index)
    {
        if (index <= 0)
        {
            return null;
        }

        lock (_interfaceNames)
        {
            if (_interfaceNames.TryGetValue(index, out var known))
            {
                return known;
            }

            var links = _namespace is null ? ListLinks() : NamespaceRunner.Run(_namespace, ListLinks);
            _interfaceNames.Clear();
            foreach (var link in links)
            {
                _interfaceNames[link.Index] = link.Name;
            }

            // An index with no link (gone already): a name no sandbox has, so the query is not taken as anyone's.
            return _interfaceNames.TryGetValue(index, out var name) ? name : "#" + index.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        static IReadOnlyList<Moat.Linux.Netlink.LinkInfo> ListLinks()
        {
            using var rt = Moat.Linux.Netlink.RtNetlink.Open();
            return rt.ListLinks();
        }
    }

    private async Task TcpLoopAsync(Socket listener, CancellationToken stop)
    {
        using var slots = new SemaphoreSlim(_options.TcpConnections);
        try
        {
            while (!stop.IsCancellationRequested)
            {
                await slots.WaitAsync(stop).ConfigureAwait(false);
                var client = await listener.AcceptAsync(stop).ConfigureAwait(false);
                _ = Task.Run(
                    async () =>
                    {
                        try
                        {
                            await ServeTcpAsync(client, stop).ConfigureAwait(false);
                        }
                        finally
                        {
                            client.Dispose();
                            slots.Release();
                        }
                    },
                    CancellationToken.None);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
        {
            // Stopped.
        }
        catch (SocketException e)
        {
            LogLoopFailed(_logger, "tcp", e.Message);
        }
    }

    /// <summary>Queries one after another on one connection until it closes, idles past <see cref="EgressResolverOptions.TcpIdle"/> or sends garbage.</summary>
    private async Task ServeTcpAsync(Socket client, CancellationToken stop)
    {
        var from = (IPEndPoint)client.RemoteEndPoint!;
        try
        {
            while (true)
            {
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(stop);
                idle.CancelAfter(_options.TcpIdle);
                var query = await ReadFramedAsync(client, idle.Token).ConfigureAwait(false);
                if (query is null)
                {
                    return;
                }

                var answer = await AnswerAsync(from, query, overTcp: true, stop).ConfigureAwait(false);
                if (answer is null)
                {
                    return;
                }

                var framed = new byte[answer.Length + 2];
                BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)answer.Length);
                answer.CopyTo(framed, 2);
                await client.SendAsync(framed, stop).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // Idle, reset or stopping: the connection ends.
        }
    }
}
