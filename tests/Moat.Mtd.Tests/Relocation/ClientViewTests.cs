using System.Net;
using System.Net.Sockets;
using Moat.Mtd.Relocation;
using Moat.Mtd.Relocation.Network;

namespace Moat.Mtd.Tests.Relocation;

/// <summary>The client's view of a move, measured against a service on loopback that stays up or goes away.</summary>
public sealed class ClientViewTests
{
    [Fact]
    public async Task A_service_that_stays_up_shows_no_failure_and_its_held_connection_intact()
    {
        using var server = new Server();
        var service = new ServiceBinding(new LoopbackAddressing(), IPAddress.Parse("198.18.99.1"), server.Port);
        var watch = await ClientViewWatch.StartAsync(service, TimeSpan.FromMilliseconds(5), holdConnection: true, CancellationToken.None);
        await server.AcceptedAsync(count: 5);

        var view = await watch.StopAsync();

        // 5 accepted = the held connection + 4 probes, the last of which may still be in flight when the watch stops.
        Assert.True(view.Probes >= 3, $"{view.Probes} probes");
        Assert.Equal(0, view.Failed);
        Assert.Equal((1, 0), (view.HeldConnections, view.BrokenConnections));
    }

    [Fact]
    public async Task A_service_that_goes_away_shows_failed_attempts_a_gap_and_its_held_connection_broken()
    {
        var server = new Server();
        var service = new ServiceBinding(new LoopbackAddressing(), IPAddress.Parse("198.18.99.1"), server.Port);
        var watch = await ClientViewWatch.StartAsync(service, TimeSpan.FromMilliseconds(5), holdConnection: true, CancellationToken.None);
        await server.AcceptedAsync(count: 2);
        server.Dispose(); // listener closed, every accepted connection reset
        var addressing = (LoopbackAddressing)service.Addressing;
        await addressing.FailedAsync(count: 3);

        var view = await watch.StopAsync();

        Assert.True(view.Failed >= 3 && view.Probes > view.Failed, $"{view.Failed} of {view.Probes}");
        Assert.True(view.LongestGapMs > 0);
        Assert.Equal((1, 1), (view.HeldConnections, view.BrokenConnections));
    }

    /// <summary>The front of a test: every VIP leads to loopback.</summary>
    private sealed class LoopbackAddressing : IServiceAddressing
    {
        private int _failed;
        private TaskCompletionSource _failures = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _wanted = int.MaxValue;

        public IPAddress? Current(IPAddress vip) => IPAddress.Loopback;

        public Task<IPAddress?> SwitchAsync(IPAddress vip, IPAddress target, CancellationToken cancellationToken = default) => Task.FromResult<IPAddress?>(null);

        public Task WithdrawAsync(IPAddress vip, IPAddress old, CancellationToken cancellationToken = default) => Task.CompletedTask;

        public async Task<bool> ProbeAsync(IPAddress target, int port, TimeSpan timeout, CancellationToken cancellationToken = default)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await socket.ConnectAsync(new IPEndPoint(target, port), cancellationToken);
                return true;
            }
            catch (SocketException)
            {
                if (Interlocked.Increment(ref _failed) >= Volatile.Read(ref _wanted))
                {
                    _failures.TrySetResult();
                }

                return false;
            }
        }

        public async Task<Socket?> OpenAsync(IPAddress target, int port, TimeSpan timeout, CancellationToken cancellationToken = default)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(new IPEndPoint(target, port), cancellationToken);
            return socket;
        }

        public Task FailedAsync(int count)
        {
            Volatile.Write(ref _wanted, count);
            if (Volatile.Read(ref _failed) >= count)
            {
                _failures.TrySetResult();
            }

            return _failures.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    /// <summary>A TCP service on loopback that accepts and holds connections, and resets them all when disposed.</summary>
    private sealed class Server : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly List<Socket> _accepted = [];
        private readonly SemaphoreSlim _count = new(0);
        private readonly CancellationTokenSource _stop = new();

        public Server()
        {
            _listener.Start();
            _ = Task.Run(async () =>
            {
                try
                {
                    while (true)
                    {
                        var s = await _listener.AcceptSocketAsync(_stop.Token);
                        lock (_accepted)
                        {
                            _accepted.Add(s);
                        }

                        _count.Release();
                    }
                }
                catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
                {
                    // stopped
                }
            });
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public async Task AcceptedAsync(int count)
        {
            for (var i = 0; i < count; i++)
            {
                await _count.WaitAsync(TimeSpan.FromSeconds(30));
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            lock (_accepted)
            {
                foreach (var s in _accepted)
                {
                    s.LingerState = new LingerOption(true, 0); // close with RST, as a service that is gone
                    s.Dispose();
                }
            }
        }
    }
}
