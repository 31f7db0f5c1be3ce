using System.Buffers.Binary;
using System.Net.Sockets;
using System.Security.Cryptography;
using Moat.Containment.Dns;
using Moat.Linux.Sockets;

namespace Moat.Containment.Resolver;

/// <summary>The exchange with the upstream resolver: UDP from a fresh socket and id per query, TCP when truncated.</summary>
public sealed partial class EgressResolver
{
    /// <summary>
    /// Asks the upstream for <paramref name="question"/>; null when it did not answer in time or answered with
    /// something that is not an answer to this question. Datagrams with another id or question are ignored (an
    /// off-path spoofer must guess a random id and port); a truncated answer is asked again over TCP.
    /// </summary>
    private async Task<DnsMessage?> ExchangeAsync(DnsQuestion question, CancellationToken cancellationToken)
    {
        // The id is unpredictable (not from an injected Random): it is half of what stops an off-path spoofer.
        var id = (ushort)RandomNumberGenerator.GetInt32(ushort.MaxValue + 1);
        var query = DnsWriter.Query(id, question.Name, question.Type);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.UpstreamTimeout);
        try
        {
            var answer = await UdpExchangeAsync(query, id, question, timeout.Token).ConfigureAwait(false);
            if (answer is { Truncated: true })
            {
                answer = await TcpExchangeAsync(query, id, question, timeout.Token).ConfigureAwait(false);
            }

            return answer;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            LogUpstreamFailed(_logger, _options.Upstream.ToString(), question.Key, "no answer within " + _options.UpstreamTimeout.TotalSeconds + " s");
            return null;
        }
        catch (SocketException e)
        {
            LogUpstreamFailed(_logger, _options.Upstream.ToString(), question.Key, e.Message);
            return null;
        }
    }

    private async Task<DnsMessage?> UdpExchangeAsync(byte[] query, ushort id, DnsQuestion question, CancellationToken cancellationToken)
    {
        using var socket = NamespacedSockets.Udp(_namespace);
        await socket.ConnectAsync(_options.Upstream, cancellationToken).ConfigureAwait(false);
        await socket.SendAsync(query, cancellationToken).ConfigureAwait(false);
        var buffer = new byte[ushort.MaxValue];
        while (true)
        {
            var n = await socket.ReceiveAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (Matches(buffer.AsSpan(0, n), id, question, out var answer))
            {
                return answer;
            }
        }
    }

    private async Task<DnsMessage?> TcpExchangeAsync(byte[] query, ushort id, DnsQuestion question, CancellationToken cancellationToken)
    {
        using var socket = NamespacedSockets.Tcp(_namespace);
        await socket.ConnectAsync(_options.Upstream, cancellationToken).ConfigureAwait(false);
        var framed = new byte[query.Length + 2];
        BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)query.Length);
        query.CopyTo(framed, 2);
        await socket.SendAsync(framed, cancellationToken).ConfigureAwait(false);
        var message = await ReadFramedAsync(socket, cancellationToken).ConfigureAwait(false);
        return message is not null && Matches(message, id, question, out var answer) && !answer!.Truncated ? answer : null;
    }

    /// <summary>One length-prefixed DNS message from a TCP stream (RFC 1035 §4.2.2); null when the stream ends first.</summary>
    internal static async Task<byte[]?> ReadFramedAsync(Socket socket, CancellationToken cancellationToken)
    {
        var prefix = new byte[2];
        if (!await ReadExactlyAsync(socket, prefix, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        var message = new byte[BinaryPrimitives.ReadUInt16BigEndian(prefix)];
        return await ReadExactlyAsync(socket, message, cancellationToken).ConfigureAwait(false) ? message : null;
    }

    private static async Task<bool> ReadExactlyAsync(Socket socket, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await socket.ReceiveAsync(buffer[read..], cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                return false;
            }

            read += n;
        }

        return true;
    }

    private static bool Matches(ReadOnlySpan<byte> packet, ushort id, DnsQuestion question, out DnsMessage? answer)
    {
        answer = null;
        if (DnsMessage.TryParse(packet, out var message) != DnsParseError.None)
        {
            return false;
        }

        if (!message!.IsResponse || message.Id != id || message.Question is not { } q
            || q.Type != question.Type || q.Class != question.Class || !string.Equals(q.Name, question.Name, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        answer = message;
        return true;
    }
}
