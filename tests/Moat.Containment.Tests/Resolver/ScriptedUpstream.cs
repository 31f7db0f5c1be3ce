using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Moat.Containment.Resolver;

namespace Moat.Containment.Tests.Resolver;

/// <summary>
/// An upstream resolver on loopback whose answers the test writes by hand (udp, and tcp on the same port): it is the
/// hostile upstream of the tests. Each reply function gets the query's bytes and returns the datagrams to send.
/// </summary>
internal sealed class ScriptedUpstream : IDisposable
{
    private readonly Socket _udp;
    private readonly Socket _tcp;
    private readonly CancellationTokenSource _stop = new();

    public ScriptedUpstream(Func<byte[], IEnumerable<byte[]>> udp, Func<byte[], byte[]>? tcp = null)
    {
        _udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        _udp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        Endpoint = (IPEndPoint)_udp.LocalEndPoint!;
        _tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _tcp.Bind(Endpoint);
        _tcp.Listen(8);
        _ = UdpLoopAsync(udp);
        _ = TcpLoopAsync(tcp);
    }

    public IPEndPoint Endpoint { get; }

    public ConcurrentQueue<byte[]> Queries { get; } = new();

    public int TcpQueries;

    public void Dispose()
    {
        _stop.Cancel();
        _udp.Dispose();
        _tcp.Dispose();
        _stop.Dispose();
    }

    private async Task UdpLoopAsync(Func<byte[], IEnumerable<byte[]>> reply)
    {
        var buffer = new byte[65535];
        try
        {
            while (true)
            {
                var r = await _udp.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0), _stop.Token);
                var query = buffer[..r.ReceivedBytes];
                Queries.Enqueue(query);
                foreach (var datagram in reply(query))
                {
                    await _udp.SendToAsync(datagram, r.RemoteEndPoint, _stop.Token);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // Stopped.
        }
    }

    private async Task TcpLoopAsync(Func<byte[], byte[]>? reply)
    {
        try
        {
            while (true)
            {
                using var client = await _tcp.AcceptAsync(_stop.Token);
                Interlocked.Increment(ref TcpQueries);
                var prefix = new byte[2];
                await client.ReceiveAsync(prefix, _stop.Token);
                var query = new byte[(prefix[0] << 8) | prefix[1]];
                var read = 0;
                while (read < query.Length)
                {
                    read += await client.ReceiveAsync(query.AsMemory(read), _stop.Token);
                }

                var answer = reply?.Invoke(query) ?? [];
                await client.SendAsync(new byte[] { (byte)(answer.Length >> 8), (byte)answer.Length }.Concat(answer).ToArray(), _stop.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // Stopped.
        }
    }
}

/// <summary>Name sets that record what the resolver put in and took out; <see cref="Gate"/> can hold an admission.</summary>
internal sealed class RecordingSets : INameSets
{
    public ConcurrentQueue<(string Id, IPAddress Address, TimeSpan Timeout)> Admitted { get; } = new();

    public ConcurrentQueue<(string Id, IPAddress Address)> Revoked { get; } = new();

    public ManualResetEventSlim Gate { get; } = new(true);

    public ManualResetEventSlim Entered { get; } = new(false);

    public bool Fail { get; set; }

    public void AdmitNameAddresses(string id, IReadOnlyList<(IPAddress Address, TimeSpan Timeout)> entries)
    {
        Entered.Set();
        Gate.Wait(TimeSpan.FromSeconds(30));
        if (Fail)
        {
            throw new ContainmentException("nf_tables change 1 of 2 failed: No such file or directory");
        }

        foreach (var (address, timeout) in entries)
        {
            Admitted.Enqueue((id, address, timeout));
        }
    }

    public void RevokeNameAddresses(string id, IReadOnlyList<IPAddress> addresses)
    {
        foreach (var address in addresses)
        {
            Revoked.Enqueue((id, address));
        }
    }
}

/// <summary>A clock the test moves.</summary>
internal sealed class ManualTime : TimeProvider
{
    private DateTimeOffset _now = new(2026, 12, 7, 4, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}
