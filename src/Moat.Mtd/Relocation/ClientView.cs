using System.Diagnostics;
using System.Net.Sockets;
using Moat.Mtd.Relocation.Network;

namespace Moat.Mtd.Relocation;

/// <summary>
/// What a client at the service address saw during one move, measured by the coordinator itself from where clients
/// come in (the front): the downtime a report gives is the coordinator's own clock; this is the client's. Each attempt
/// goes where the front sends a client of the VIP at that moment (the VIP's current target, as its DNAT map has it),
/// so a front without a route to its own VIP can still measure.
/// </summary>
/// <param name="Probes">Connection attempts (port of the service), one every probe interval, from just before the
/// source stopped until the VIP switched and the old path was withdrawn.</param>
/// <param name="Failed">Attempts refused or timed out (250 ms): what a client would have retried.</param>
/// <param name="LongestGapMs">Longest time between two successful attempts (or from the first attempt to the first
/// success): the longest a client retrying at once would have waited.</param>
/// <param name="HeldConnections">Connections opened to the service address before the move and held across it (0 or
/// 1; 0 for a move that tries live, whose attempts also start only at the checkpoint: runsc cannot checkpoint a
/// sandbox with a connected TCP endpoint, so watching earlier would itself make the move cold).</param>
/// <param name="BrokenConnections">Of those, the ones that did not survive the move: after it, one byte (CR) is
/// written with TCP_USER_TIMEOUT 500 ms, and a reset, an unreachable, no TCP acknowledgement or an end of stream (the
/// old copy's sockets closed when it stopped) within 1.5 s counts as broken. A connection that is acknowledged and
/// stays open, or answers, survived, whatever the service's protocol.</param>
public sealed record ClientView(int Probes, int Failed, double LongestGapMs, int HeldConnections, int BrokenConnections);

/// <summary>Probes a service address while a move runs; see <see cref="ClientView"/>.</summary>
internal sealed class ClientViewWatch
{
    private static readonly TimeSpan s_probeTimeout = TimeSpan.FromMilliseconds(250);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task<(int Probes, int Failed, double LongestGapMs)> _loop;
    private readonly Socket? _held;

    private ClientViewWatch(ServiceBinding service, Socket? held, TimeSpan interval)
    {
        _held = held;
        _loop = Task.Run(() => LoopAsync(service, interval, _stop.Token));
    }

    /// <summary>Opens the held connection and starts probing.</summary>
    /// <param name="holdConnection">Whether to open a connection to hold across the move (not for a move that tries
    /// live: runsc cannot checkpoint a sandbox with a connected TCP endpoint).</param>
    public static async Task<ClientViewWatch> StartAsync(ServiceBinding service, TimeSpan interval, bool holdConnection, CancellationToken cancellationToken)
    {
        Socket? held = null;
        try
        {
            held = holdConnection ? await service.Addressing.OpenAsync(Target(service), service.Port, s_probeTimeout, cancellationToken).ConfigureAwait(false) : null;
        }
        catch (SocketException)
        {
            // The service did not take a connection before the move: nothing is held across it.
        }

        return new ClientViewWatch(service, held, interval);
    }

    /// <summary>Stops probing and checks the held connection.</summary>
    public async Task<ClientView> StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        var (probes, failed, gap) = await _loop.ConfigureAwait(false);
        _stop.Dispose();
        var broken = 0;
        if (_held is { } socket)
        {
            using (socket)
            {
                broken = await IsBrokenAsync(socket).ConfigureAwait(false) ? 1 : 0;
            }
        }

        return new ClientView(probes, failed, gap, _held is null ? 0 : 1, broken);
    }

    private static async Task<(int, int, double)> LoopAsync(ServiceBinding service, TimeSpan interval, CancellationToken stop)
    {
        int probes = 0, failed = 0;
        double longest = 0;
        var sinceSuccess = Stopwatch.StartNew();
        while (!stop.IsCancellationRequested)
        {
            bool ok;
            try
            {
                ok = await service.Addressing.ProbeAsync(Target(service), service.Port, s_probeTimeout, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            probes++;
            if (ok)
            {
                longest = Math.Max(longest, sinceSuccess.Elapsed.TotalMilliseconds);
                sinceSuccess.Restart();
            }
            else
            {
                failed++;
            }

            try
            {
                await Task.Delay(interval, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        // A gap still open when the move ended counts too.
        return (probes, failed, failed > 0 ? Math.Max(longest, sinceSuccess.Elapsed.TotalMilliseconds) : longest);
    }

    private static System.Net.IPAddress Target(ServiceBinding service) => service.Addressing.Current(service.Vip) ?? service.Vip;

    private static async Task<bool> IsBrokenAsync(Socket socket)
    {
        // Protocol-blind: one byte written with TCP_USER_TIMEOUT 500 ms. A live peer acknowledges it at the TCP level
        // whatever its protocol; a gone one resets it or lets the kernel abort the connection for want of an ACK.
        const int ipprotoTcp = 6, tcpUserTimeout = 18; // linux/tcp.h; SocketOptionName has no TCP_USER_TIMEOUT
        try
        {
            socket.SetRawSocketOption(ipprotoTcp, tcpUserTimeout, BitConverter.GetBytes(500));
            await socket.SendAsync("\r"u8.ToArray(), SocketFlags.None).ConfigureAwait(false);
            using var wait = new CancellationTokenSource(TimeSpan.FromMilliseconds(1500));
            var buffer = new byte[512];
            // Data: the service answered on it. End of stream: it was closed under the client during the move (a
            // stopped sandbox's sockets close with its processes), which a client sees as a dropped connection.
            return await socket.ReceiveAsync(buffer, SocketFlags.None, wait.Token).ConfigureAwait(false) == 0;
        }
        catch (SocketException)
        {
            return true; // reset, unreachable, or no acknowledgement within the user timeout
        }
        catch (OperationCanceledException)
        {
            return false; // acknowledged (else the user timeout had aborted it), silent at the application level
        }
    }
}
