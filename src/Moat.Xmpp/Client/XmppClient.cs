using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using System.Xml.Linq;
using Moat.Xmpp.Xml;

namespace Moat.Xmpp.Client;

/// <summary>An XMPP client connection (RFC 6120/6121 subset) that reconnects by itself; events fire on its reader loop.</summary>
public sealed partial class XmppClient : IAsyncDisposable
{
    internal static readonly XNamespace ClientNs = StanzaParser.ClientNs;
    internal static readonly XNamespace StreamNs = StanzaParser.StreamNs;

    private readonly XmppClientOptions options;
    private readonly CancellationTokenSource lifetime = new();
    private readonly ConcurrentDictionary<string, PendingIq> pendingIqs = new();
    private readonly string idPrefix = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4));
    private Connection? connection;
    private Task? supervisor;
    private long nextId;
    private int disposed;

    public XmppClient(XmppClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.options = options;
        AccountJid = Jid.Parse(options.Jid).Bare;
        if (AccountJid.Local is null)
        {
            throw new ArgumentException($"'{options.Jid}' is not an account JID: expected user@domain.", nameof(options));
        }
    }

    /// <summary>The account's bare JID.</summary>
    public Jid AccountJid { get; }

    /// <summary>The full JID the server bound for the current connection.</summary>
    public Jid? BoundJid { get; private set; }

    public bool IsConnected => connection is { IsOpen: true };

    /// <summary>True when the current connection encrypted the stream with STARTTLS.</summary>
    public bool IsEncrypted { get; private set; }

    /// <summary>The SASL mechanism used by the current connection.</summary>
    public string? Mechanism { get; private set; }

    /// <summary>True when XEP-0198 was enabled on the current connection.</summary>
    public bool StreamManagementEnabled { get; private set; }

    /// <summary>A chat or normal message arrived.</summary>
    public event Action<XElement>? MessageReceived;

    /// <summary>A presence stanza arrived.</summary>
    public event Action<XElement>? PresenceReceived;

    /// <summary>The connection was lost; the argument says why.</summary>
    public event Action<Exception?>? Disconnected;

    /// <summary>A connection (first or later) is up and bound; resend presence or state here.</summary>
    public event Action? Connected;

    /// <summary>
    /// Answers IQ get/set requests addressed to this client; return the result or error stanza, or null to
    /// answer service-unavailable. Pings are answered before this is consulted.
    /// </summary>
    public Func<XElement, ValueTask<XElement?>>? IqHandler { get; set; }

    /// <summary>Sends a stanza; queued behind earlier ones and written in batches.</summary>
    public ValueTask SendAsync(XElement stanza, CancellationToken cancellationToken = default) =>
        SendRawAsync(stanza.ToString(SaveOptions.DisableFormatting | SaveOptions.OmitDuplicateNamespaces), cancellationToken);

    /// <summary>Sends pre-serialised stanza text (trusted callers only; the text is not checked).</summary>
    public ValueTask SendRawAsync(string stanzaText, CancellationToken cancellationToken = default)
    {
        var current = connection;
        if (current is null || !current.IsOpen)
        {
            throw new XmppDisconnectedException($"{AccountJid} is not connected; the stanza was not sent.");
        }

        current.CountOutbound();
        return current.Outbox.Writer.WriteAsync(stanzaText, cancellationToken);
    }

    /// <summary>A stanza id unique to this client (random prefix), so ids of other clients never collide with ours.</summary>
    public string NewId() => idPrefix + Interlocked.Increment(ref nextId).ToString(System.Globalization.CultureInfo.InvariantCulture);

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
        {
            return;
        }

        await lifetime.CancelAsync().ConfigureAwait(false);
        var current = connection;
        if (current is not null)
        {
            await current.CloseAsync(graceful: true).ConfigureAwait(false);
        }

        if (supervisor is not null)
        {
            try
            {
                await supervisor.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The supervisor ends by cancellation when disposed; that is the expected way out.
            }
        }

        FailPending(new XmppDisconnectedException($"{AccountJid} was disposed."));
        lifetime.Dispose();
    }

    /// <summary>Kills the socket without a closing stream tag, as a crashed process would (tests and fault drills).</summary>
    public void AbortSocket() => connection?.Abort();

    private void FailPending(Exception error)
    {
        foreach (var key in pendingIqs.Keys)
        {
            if (pendingIqs.TryRemove(key, out var waiter))
            {
                waiter.Answer.TrySetException(error);
            }
        }
    }

    /// <summary>One TCP (maybe TLS) connection and its reader and writer loops.</summary>
    private sealed class Connection
    {
        private readonly TcpClient tcp;
        private int open = 1;
        private long outbound;

        public Connection(TcpClient tcp, Stream stream, StanzaFramer framer)
        {
            this.tcp = tcp;
            Stream = stream;
            Framer = framer;
        }

        public Stream Stream { get; set; }

        public StanzaFramer Framer { get; }

        public Channel<string> Outbox { get; } = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });

        public bool IsOpen => Volatile.Read(ref open) == 1;

        public long InboundHandled { get; set; }

        public bool CountStanzas { get; set; }

        public Task? Writer { get; set; }

        public void CountOutbound() => Interlocked.Increment(ref outbound);

        public async Task WriteLoopAsync(CancellationToken cancellationToken)
        {
            var builder = new StringBuilder();
            var reader = Outbox.Reader;
            while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                builder.Clear();
                while (builder.Length < 64 * 1024 && reader.TryRead(out var text))
                {
                    builder.Append(text);
                }

                byte[] bytes = Encoding.UTF8.GetBytes(builder.ToString());
                await Stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
                await Stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        public async Task WriteDirectAsync(string text, CancellationToken cancellationToken)
        {
            await Stream.WriteAsync(Encoding.UTF8.GetBytes(text), cancellationToken).ConfigureAwait(false);
            await Stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        public async Task<Frame> ReadFrameAsync(byte[] buffer, CancellationToken cancellationToken)
        {
            while (true)
            {
                var frame = Framer.Next();
                if (frame.Kind != FrameKind.None)
                {
                    return frame;
                }

                int n = await Stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (n == 0)
                {
                    throw new XmppDisconnectedException("the server closed the connection");
                }

                Framer.Feed(buffer.AsSpan(0, n));
            }
        }

        public async Task CloseAsync(bool graceful)
        {
            if (Interlocked.Exchange(ref open, 0) == 0)
            {
                return;
            }

            Outbox.Writer.TryComplete();
            if (graceful)
            {
                try
                {
                    if (Writer is not null)
                    {
                        await Writer.WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
                    }

                    await WriteDirectAsync("</stream:stream>", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or ObjectDisposedException or TimeoutException or OperationCanceledException or XmppException)
                {
                    // A graceful close is best effort: the socket is closed below either way.
                }
            }

            Abort();
        }

        public void Abort()
        {
            Interlocked.Exchange(ref open, 0);
            Outbox.Writer.TryComplete();
            tcp.Client.LingerState = new LingerOption(true, 0);
            tcp.Dispose();
        }
    }
}
