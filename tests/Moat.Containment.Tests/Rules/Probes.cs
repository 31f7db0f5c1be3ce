using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Moat.Linux.Namespaces;

namespace Moat.Containment.Tests.Rules;

/// <summary>TCP listeners and UDP echo servers on every probe port inside one namespace; UDP arrivals are recorded.</summary>
internal sealed class ProbeServers : IDisposable
{
    private readonly List<Socket> _sockets;
    private readonly CancellationTokenSource _stop = new();

    private ProbeServers(List<Socket> sockets) => _sockets = sockets;

    /// <summary>Every UDP datagram received: source and text, in arrival order.</summary>
    public ConcurrentQueue<(IPEndPoint From, string Text)> Received { get; } = new();

    public static ProbeServers Start(NetworkNamespace ns, IEnumerable<int> tcpPorts, IEnumerable<int> udpPorts)
    {
        var sockets = NamespaceRunner.Run(ns, () =>
        {
            var list = new List<Socket>();
            foreach (var port in tcpPorts)
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                s.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                s.Bind(new IPEndPoint(IPAddress.Any, port));
                s.Listen(512);
                list.Add(s);
            }

            foreach (var port in udpPorts)
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                s.Bind(new IPEndPoint(IPAddress.Any, port));
                list.Add(s);
            }

            return list;
        });
        var servers = new ProbeServers(sockets);
        foreach (var socket in sockets)
        {
            _ = socket.SocketType == SocketType.Stream ? servers.AcceptLoopAsync(socket) : servers.EchoLoopAsync(socket);
        }

        return servers;
    }

    public void Dispose()
    {
        _stop.Cancel();
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }

        _stop.Dispose();
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        try
        {
            while (true)
            {
                var client = await listener.AcceptAsync(_stop.Token);
                client.Dispose();
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // Stopped by Dispose.
        }
    }

    private async Task EchoLoopAsync(Socket socket)
    {
        var buffer = new byte[2048];
        try
        {
            while (true)
            {
                var result = await socket.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0), _stop.Token);
                var from = (IPEndPoint)result.RemoteEndPoint;
                Received.Enqueue((from, Encoding.ASCII.GetString(buffer, 0, result.ReceivedBytes)));
                await socket.SendToAsync(buffer.AsMemory(0, result.ReceivedBytes), from, _stop.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // Stopped by Dispose.
        }
    }
}

/// <summary>Reachability probes run from inside a namespace: a packet that is dropped anywhere gives false after the timeout.</summary>
internal static class Probe
{
    // Everything is on veth pairs on one machine (round trips of tens of microseconds): three seconds without an
    // answer means the packet or its answer was dropped. One second was too short on a machine at load 40 (a first
    // SYN retransmission or a starved thread pool), which made allowed cells look shut.
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    public static async Task<bool> TcpAsync(NetworkNamespace ns, IPAddress destination, int port, IPAddress? source = null)
    {
        using var socket = NamespaceRunner.Run(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        if (source is not null)
        {
            socket.Bind(new IPEndPoint(source, 0));
        }

        using var cts = new CancellationTokenSource(Timeout);
        try
        {
            await socket.ConnectAsync(new IPEndPoint(destination, port), cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return true; // a reset came back: the destination was reached
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.NetworkUnreachable or SocketError.HostUnreachable or SocketError.TimedOut)
        {
            return false;
        }
    }

    public static async Task<bool> UdpAsync(NetworkNamespace ns, IPAddress destination, int port, IPAddress? source = null)
    {
        using var socket = NamespaceRunner.Run(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        socket.Bind(new IPEndPoint(source ?? IPAddress.Any, 0));
        var text = "probe-" + Guid.NewGuid().ToString("N");
        await socket.SendToAsync(Encoding.ASCII.GetBytes(text), new IPEndPoint(destination, port));
        var buffer = new byte[2048];
        using var cts = new CancellationTokenSource(Timeout);
        try
        {
            while (true)
            {
                var result = await socket.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0), cts.Token);
                if (Encoding.ASCII.GetString(buffer, 0, result.ReceivedBytes) == text)
                {
                    return true;
                }
            }
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (SocketException)
        {
            return false; // ICMP unreachable reported on the socket
        }
    }

    /// <summary>One echo request with iputils ping (exit 0: an echo reply came back).</summary>
    public static async Task<bool> IcmpAsync(string ns, IPAddress destination)
    {
        using var ping = Process.Start(new ProcessStartInfo("ip", ["netns", "exec", ns, "ping", "-n", "-q", "-c1", "-W3", destination.ToString()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        await ping.StandardOutput.ReadToEndAsync();
        await ping.WaitForExitAsync();
        return ping.ExitCode == 0;
    }

    public static async Task<string> RunAsync(string file, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)} failed ({process.ExitCode}): {await error}");
        return await output;
    }
}
