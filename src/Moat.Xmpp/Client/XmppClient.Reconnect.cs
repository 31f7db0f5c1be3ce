using Moat.Xmpp.Xml;

namespace Moat.Xmpp.Client;

public sealed partial class XmppClient
{
    /// <summary>Reads the current connection until it fails, then reconnects with bounded exponential backoff.</summary>
    private async Task SuperviseAsync(Connection current, CancellationToken cancellationToken)
    {
        while (true)
        {
            Connected?.Invoke();
            Exception? reason = null;
            try
            {
                await ReceiveLoopAsync(current, cancellationToken).ConfigureAwait(false);
            }
            catch (XmppStreamException e)
            {
                reason = e;
                await SendStreamErrorAsync(current, e.Condition).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or XmppException or System.Net.Sockets.SocketException)
            {
                reason = e;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }

            await current.CloseAsync(graceful: false).ConfigureAwait(false);
            FailPending(new XmppDisconnectedException($"the connection of {AccountJid} was lost: {reason?.Message ?? "closed"}"));
            Disconnected?.Invoke(reason);
            if (!options.Reconnect || cancellationToken.IsCancellationRequested)
            {
                return;
            }

            var next = await ReconnectAsync(cancellationToken).ConfigureAwait(false);
            if (next is null)
            {
                return;
            }

            current = next;
        }
    }

    private async Task<Connection?> ReconnectAsync(CancellationToken cancellationToken)
    {
        for (int attempt = 0; options.MaxReconnectAttempts == 0 || attempt < options.MaxReconnectAttempts; attempt++)
        {
            await Task.Delay(BackoffDelay(attempt), options.TimeProvider, cancellationToken).ConfigureAwait(false);
            try
            {
                return await OpenAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or XmppException
                or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                // The next attempt waits longer; the bound on attempts (if any) ends the loop.
            }
        }

        return null;
    }

    /// <summary>min·2^attempt capped at max, with up to 25 % jitter so that many workers do not reconnect in lock step.</summary>
    internal TimeSpan BackoffDelay(int attempt)
    {
        double min = options.ReconnectMinDelay.TotalMilliseconds;
        double max = options.ReconnectMaxDelay.TotalMilliseconds;
        double delay = Math.Min(max, min * Math.Pow(2, Math.Min(attempt, 30)));
        delay *= 1 + (0.25 * options.Random.NextDouble());
        return TimeSpan.FromMilliseconds(Math.Min(delay, max));
    }

    private static async Task SendStreamErrorAsync(Connection conn, string condition)
    {
        try
        {
            await conn.WriteDirectAsync(
                $"<stream:error><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>",
                CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or TimeoutException or System.Net.Sockets.SocketException)
        {
            // The peer is already misbehaving; failing to tell it so changes nothing.
        }
    }
}
