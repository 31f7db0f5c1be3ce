using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Pipelines;
using System.Xml.Linq;
using Moat.Xmpp.Client;

namespace Moat.Xmpp.Bytestreams;

/// <summary>
/// XEP-0047 In-Band Bytestreams, receiving side. Only streams announced beforehand with <see cref="Expect"/> (an id and the
/// full JID they must come from) are accepted; anything else is refused, so a stranger cannot push bytes at a host.
/// Blocks must arrive in order; an acknowledgement is sent only once the block is taken by the reader's buffer, which
/// is how a slow reader slows the sender. A stream that stays silent longer than the idle timeout fails.
/// </summary>
/// <remarks>Hook it into a client with <c>client.IqHandler</c>: <see cref="HandleAsync"/> answers IBB IQs and returns
/// null for others.</remarks>
public sealed class IbbInbox : IDisposable
{
    private readonly ConcurrentDictionary<string, IbbIncoming> streams = new(StringComparer.Ordinal);
    private readonly TimeSpan idleTimeout;
    private readonly TimeProvider time;

    public IbbInbox(TimeSpan? idleTimeout = null, TimeProvider? time = null)
    {
        this.idleTimeout = idleTimeout ?? TimeSpan.FromSeconds(60);
        this.time = time ?? TimeProvider.System;
    }

    /// <summary>Streams announced and not yet finished.</summary>
    public int Count => streams.Count;

    /// <summary>
    /// Announces stream <paramref name="sid"/> from <paramref name="from"/> (a full JID). With
    /// <paramref name="completeOnClose"/> false, the sender's close only marks <see cref="IbbIncoming.Closed"/> and the
    /// caller ends the reading side with <see cref="IbbIncoming.Complete"/> (for example once the sender has also said,
    /// in another answer, that what it sent is whole).
    /// </summary>
    public IbbIncoming Expect(string sid, string from, bool completeOnClose = true)
    {
        InBandBytestream.ValidateSid(sid);
        ArgumentException.ThrowIfNullOrEmpty(from);
        var incoming = new IbbIncoming(this, sid, from, completeOnClose, idleTimeout, time);
        if (!streams.TryAdd(sid, incoming))
        {
            incoming.Dispose();
            throw new ArgumentException($"a stream with id '{sid}' is already expected.", nameof(sid));
        }

        return incoming;
    }

    /// <summary>Answers an IBB request (open, data, close); null when <paramref name="iq"/> is not one.</summary>
    public async ValueTask<XElement?> HandleAsync(XElement iq)
    {
        ArgumentNullException.ThrowIfNull(iq);
        var payload = iq.Elements().FirstOrDefault(e => e.Name.Namespace == InBandBytestream.Ns);
        if (payload is null || iq.Attribute("type")?.Value != "set")
        {
            return null;
        }

        var sid = payload.Attribute("sid")?.Value;
        var from = iq.Attribute("from")?.Value;
        if (sid is null || !streams.TryGetValue(sid, out var stream) || !string.Equals(from, stream.From, StringComparison.Ordinal))
        {
            // Unknown or someone else's: the same answer, so a prober learns nothing about streams in flight.
            return XmppClient.ErrorFor(iq, "cancel", payload.Name.LocalName == "open" ? "not-acceptable" : "item-not-found",
                $"no stream '{sid}' is expected from {from}.");
        }

        switch (payload.Name.LocalName)
        {
            case "open":
                return stream.Open(iq, payload);
            case "data":
                return await stream.TakeAsync(iq, payload).ConfigureAwait(false);
            case "close":
                stream.SenderClosed(payload.Element(InBandBytestream.AbortNs + "abort")?.Value);
                return XmppClient.ResultFor(iq);
            default:
                return XmppClient.ErrorFor(iq, "cancel", "feature-not-implemented", $"'{payload.Name.LocalName}' is not an in-band bytestream request.");
        }
    }

    public void Dispose()
    {
        foreach (var s in streams.Values)
        {
            s.Dispose();
        }
    }

    internal void Forget(IbbIncoming stream) => streams.TryRemove(new KeyValuePair<string, IbbIncoming>(stream.Sid, stream));
}

/// <summary>One expected incoming stream: read it from <see cref="Reader"/>.</summary>
public sealed class IbbIncoming : IDisposable
{
    private readonly IbbInbox inbox;
    private readonly Pipe pipe = new(new PipeOptions(pauseWriterThreshold: 1 << 20, resumeWriterThreshold: 1 << 19, useSynchronizationContext: false));
    private readonly TaskCompletionSource opened = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly bool completeOnClose;
    private readonly TimeSpan idleTimeout;
    private readonly ITimer idle;
    private readonly Lock gate = new();
    private int blockSize;
    private ushort nextSeq;
    private bool writerDone;

    internal IbbIncoming(IbbInbox inbox, string sid, string from, bool completeOnClose, TimeSpan idleTimeout, TimeProvider time)
    {
        this.inbox = inbox;
        Sid = sid;
        From = from;
        this.completeOnClose = completeOnClose;
        this.idleTimeout = idleTimeout;
        Reader = pipe.Reader.AsStream();
        idle = time.CreateTimer(_ => Fail(new IOException($"stream {Sid} from {From} sent nothing for {idleTimeout.TotalSeconds.ToString("0", CultureInfo.InvariantCulture)} s.")),
            null, idleTimeout, Timeout.InfiniteTimeSpan);
    }

    public string Sid { get; }

    /// <summary>The full JID the stream must come from.</summary>
    public string From { get; }

    /// <summary>The bytes as they arrive; ends when the stream is complete, throws <see cref="IOException"/> when it failed.</summary>
    public Stream Reader { get; }

    /// <summary>Completes when the sender opened the stream; faults if it failed before that.</summary>
    public Task Opened => opened.Task;

    /// <summary>Completes when the sender closed the stream cleanly; faults when it aborted, broke the order, or went silent.</summary>
    public Task Closed => closed.Task;

    public long Bytes { get; private set; }

    /// <summary>Ends the reading side: cleanly (null) or with <paramref name="error"/>, which the reader then gets.</summary>
    public void Complete(Exception? error = null)
    {
        lock (gate)
        {
            if (writerDone)
            {
                return;
            }

            writerDone = true;
        }

        idle.Dispose();
        pipe.Writer.Complete(error is null ? null : error as IOException ?? new IOException(error.Message, error));
        if (error is not null)
        {
            opened.TrySetException(error);
            closed.TrySetException(error);
            _ = opened.Task.Exception; // observed here: a caller that never awaits them is not an error
            _ = closed.Task.Exception;
        }

        inbox.Forget(this);
    }

    /// <summary>Stops expecting the stream; a reader still reading sees it fail.</summary>
    public void Dispose()
    {
        Complete(new IOException($"stream {Sid} from {From} was given up by the receiver."));
    }

    internal XElement Open(XElement iq, XElement open)
    {
        if (opened.Task.IsCompleted)
        {
            return XmppClient.ErrorFor(iq, "cancel", "not-acceptable", $"stream {Sid} is already open.");
        }

        if (open.Attribute("stanza")?.Value is { } stanza && stanza != "iq")
        {
            return XmppClient.ErrorFor(iq, "cancel", "feature-not-implemented", "only stanza='iq' streams are taken here (message-borne blocks are not acknowledged).");
        }

        if (!int.TryParse(open.Attribute("block-size")?.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var size) || size is < 1 or > InBandBytestream.MaxBlockSize)
        {
            return XmppClient.ErrorFor(iq, "modify", "bad-request", $"block-size must be a number from 1 to {InBandBytestream.MaxBlockSize}.");
        }

        blockSize = size;
        idle.Change(idleTimeout, Timeout.InfiniteTimeSpan);
        opened.TrySetResult();
        return XmppClient.ResultFor(iq);
    }

    internal async Task<XElement> TakeAsync(XElement iq, XElement data)
    {
        if (!opened.Task.IsCompletedSuccessfully)
        {
            return XmppClient.ErrorFor(iq, "cancel", "unexpected-request", $"stream {Sid} is not open.");
        }

        if (!ushort.TryParse(data.Attribute("seq")?.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var seq) || seq != nextSeq)
        {
            Fail(new IOException($"stream {Sid} from {From}: block {data.Attribute("seq")?.Value} arrived where block {nextSeq} was due."));
            return XmppClient.ErrorFor(iq, "cancel", "unexpected-request", $"block {nextSeq} was due; the stream is closed.");
        }

        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(data.Value);
        }
        catch (FormatException)
        {
            Fail(new IOException($"stream {Sid} from {From}: block {seq} is not base64."));
            return XmppClient.ErrorFor(iq, "modify", "bad-request", $"block {seq} is not base64; the stream is closed.");
        }

        if (bytes.Length > blockSize)
        {
            Fail(new IOException($"stream {Sid} from {From}: block {seq} holds {bytes.Length} bytes, more than the {blockSize} agreed."));
            return XmppClient.ErrorFor(iq, "modify", "bad-request", $"block {seq} is larger than block-size {blockSize}; the stream is closed.");
        }

        nextSeq = unchecked((ushort)(nextSeq + 1));
        idle.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan); // a slow reader is not the sender's silence
        try
        {
            var flushed = await pipe.Writer.WriteAsync(bytes).ConfigureAwait(false);
            if (flushed.IsCompleted)
            {
                return XmppClient.ErrorFor(iq, "cancel", "not-acceptable", $"the receiver stopped reading stream {Sid}.");
            }
        }
        catch (InvalidOperationException)
        {
            // The writer was completed meanwhile (failed or given up).
            return XmppClient.ErrorFor(iq, "cancel", "item-not-found", $"stream {Sid} is closed.");
        }

        Bytes += bytes.Length;
        idle.Change(idleTimeout, Timeout.InfiniteTimeSpan);
        return XmppClient.ResultFor(iq);
    }

    internal void SenderClosed(string? abort)
    {
        if (abort is not null)
        {
            Fail(new IOException($"the sender aborted stream {Sid}: {abort}"));
            return;
        }

        closed.TrySetResult();
        if (completeOnClose)
        {
            Complete();
        }
        else
        {
            idle.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    private void Fail(Exception error) => Complete(error);
}
