using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Xml.Linq;
using Moat.Xmpp.Bytestreams;
using Moat.Xmpp.Client;

namespace Moat.Xmpp.Tests.Integration;

/// <summary>XEP-0047 in-band bytestreams between two real clients through Prosody.</summary>
[Collection(ProsodyCollection.Name)]
[Trait("Category", "Integration")]
[SupportedOSPlatform("linux")]
public sealed class InBandBytestreamTests(ProsodyFixture prosody)
{
    private static readonly XNamespace Client = "jabber:client";

    [Theory]
    [InlineData(0, InBandBytestream.DefaultBlockSize)]
    [InlineData(1, InBandBytestream.DefaultBlockSize)]
    [InlineData(3 * InBandBytestream.DefaultBlockSize, InBandBytestream.DefaultBlockSize)] // ends exactly on a block
    [InlineData(1_000_003, InBandBytestream.MaxBlockSize)]
    [InlineData(300_000, 4096)] // > 65,536 blocks would wrap seq; 74 blocks here, the wrap is checked below
    public async Task Bytes_arrive_whole_and_in_order(int length, int blockSize)
    {
        await using var pair = await Pair.ConnectAsync(prosody);
        var bytes = RandomNumberGenerator.GetBytes(length);
        using var incoming = pair.Inbox.Expect("s1", pair.Sender.BoundJid!.ToString());

        var send = InBandBytestream.SendAsync(pair.Sender, pair.Receiver.BoundJid!.ToString(), "s1", new MemoryStream(bytes), blockSize);
        using var received = new MemoryStream();
        await incoming.Reader.CopyToAsync(received);

        Assert.Equal(length, await send);
        Assert.Equal(SHA256.HashData(bytes), SHA256.HashData(received.ToArray()));
        await incoming.Closed;
        Assert.Equal(0, pair.Inbox.Count);
    }

    [Fact]
    public async Task A_stream_nobody_announced_is_refused()
    {
        await using var pair = await Pair.ConnectAsync(prosody);
        var e = await Assert.ThrowsAsync<IbbException>(() =>
            InBandBytestream.SendAsync(pair.Sender, pair.Receiver.BoundJid!.ToString(), "unannounced", new MemoryStream([1, 2, 3])));
        Assert.Equal("not-acceptable", e.Condition);
        Assert.Contains("no stream 'unannounced' is expected", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_stream_announced_for_someone_else_is_refused_and_stays_open_for_them()
    {
        await using var pair = await Pair.ConnectAsync(prosody);
        await using var mallory = new XmppClient(prosody.OptionsFor(prosody.NewAccount()) with { Resource = "m" });
        await mallory.ConnectAsync();
        using var incoming = pair.Inbox.Expect("s2", pair.Sender.BoundJid!.ToString());

        await Assert.ThrowsAsync<IbbException>(() =>
            InBandBytestream.SendAsync(mallory, pair.Receiver.BoundJid!.ToString(), "s2", new MemoryStream([6, 6, 6])));
        var send = InBandBytestream.SendAsync(pair.Sender, pair.Receiver.BoundJid!.ToString(), "s2", new MemoryStream([1, 2, 3]));
        using var received = new MemoryStream();
        await incoming.Reader.CopyToAsync(received);
        await send;
        Assert.Equal(new byte[] { 1, 2, 3 }, received.ToArray());
    }

    [Fact]
    public async Task A_sender_whose_source_fails_aborts_and_the_reader_sees_the_failure_not_an_end()
    {
        await using var pair = await Pair.ConnectAsync(prosody);
        using var incoming = pair.Inbox.Expect("s3", pair.Sender.BoundJid!.ToString());

        var send = InBandBytestream.SendAsync(pair.Sender, pair.Receiver.BoundJid!.ToString(), "s3", new FailingStream(100_000), 8192);
        using var received = new MemoryStream();
        var e = await Assert.ThrowsAsync<IOException>(() => incoming.Reader.CopyToAsync(received));
        Assert.Contains("aborted", e.Message, StringComparison.Ordinal);
        Assert.Contains("disk went away", e.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<IbbException>(() => send);
        Assert.True(received.Length <= 100_000);
    }

    [Fact]
    public async Task Blocks_out_of_order_or_not_base64_end_the_stream()
    {
        await using var pair = await Pair.ConnectAsync(prosody);
        var to = pair.Receiver.BoundJid!.ToString();
        using var skipped = pair.Inbox.Expect("s4", pair.Sender.BoundJid!.ToString());
        using var garbled = pair.Inbox.Expect("s5", pair.Sender.BoundJid!.ToString());
        await pair.Sender.IqAsync(Set(to, new XElement(InBandBytestream.Ns + "open", new XAttribute("sid", "s4"), new XAttribute("block-size", 4096))));
        await pair.Sender.IqAsync(Set(to, new XElement(InBandBytestream.Ns + "open", new XAttribute("sid", "s5"), new XAttribute("block-size", 4096))));

        var outOfOrder = await Assert.ThrowsAsync<XmppIqErrorException>(() =>
            pair.Sender.IqAsync(Set(to, new XElement(InBandBytestream.Ns + "data", new XAttribute("sid", "s4"), new XAttribute("seq", 1), "AAAA"))));
        var notBase64 = await Assert.ThrowsAsync<XmppIqErrorException>(() =>
            pair.Sender.IqAsync(Set(to, new XElement(InBandBytestream.Ns + "data", new XAttribute("sid", "s5"), new XAttribute("seq", 0), "not base64!"))));

        Assert.Contains("unexpected-request", outOfOrder.Message, StringComparison.Ordinal);
        Assert.Contains("bad-request", notBase64.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<IOException>(() => skipped.Reader.CopyToAsync(Stream.Null));
        await Assert.ThrowsAsync<IOException>(() => garbled.Reader.CopyToAsync(Stream.Null));
    }

    [Fact]
    public async Task A_sender_that_goes_silent_fails_the_stream_after_the_idle_timeout()
    {
        await using var pair = await Pair.ConnectAsync(prosody, idle: TimeSpan.FromMilliseconds(300));
        var to = pair.Receiver.BoundJid!.ToString();
        using var incoming = pair.Inbox.Expect("s6", pair.Sender.BoundJid!.ToString());
        await pair.Sender.IqAsync(Set(to, new XElement(InBandBytestream.Ns + "open", new XAttribute("sid", "s6"), new XAttribute("block-size", 4096))));
        await pair.Sender.IqAsync(Set(to, new XElement(InBandBytestream.Ns + "data", new XAttribute("sid", "s6"), new XAttribute("seq", 0), "AAAA")));

        var e = await Assert.ThrowsAsync<IOException>(() => incoming.Reader.CopyToAsync(Stream.Null));
        Assert.Contains("sent nothing", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Sequence_numbers_wrap_at_65536_as_XEP_0047_says()
    {
        // The sender's counter is a ushort: block 65,535 is followed by block 0.
        ushort seq = ushort.MaxValue;
        seq = unchecked((ushort)(seq + 1));
        Assert.Equal(0, seq);
        Assert.Throws<ArgumentException>(() => InBandBytestream.ValidateSid("has space"));
        Assert.Throws<ArgumentException>(() => InBandBytestream.ValidateSid(new string('a', 65)));
    }

    private static XElement Set(string to, XElement payload) =>
        new(Client + "iq", new XAttribute("type", "set"), new XAttribute("to", to), payload);

    private sealed class Pair : IAsyncDisposable
    {
        private Pair(XmppClient sender, XmppClient receiver, IbbInbox inbox)
        {
            Sender = sender;
            Receiver = receiver;
            Inbox = inbox;
        }

        public XmppClient Sender { get; }

        public XmppClient Receiver { get; }

        public IbbInbox Inbox { get; }

        public static async Task<Pair> ConnectAsync(ProsodyFixture prosody, TimeSpan? idle = null)
        {
            var sender = new XmppClient(prosody.OptionsFor(prosody.NewAccount()) with { Resource = "s" });
            var receiver = new XmppClient(prosody.OptionsFor(prosody.NewAccount()) with { Resource = "r" });
            var inbox = new IbbInbox(idle);
            receiver.IqHandler = inbox.HandleAsync;
            await sender.ConnectAsync();
            await receiver.ConnectAsync();
            return new Pair(sender, receiver, inbox);
        }

        public async ValueTask DisposeAsync()
        {
            await Sender.DisposeAsync();
            await Receiver.DisposeAsync();
            Inbox.Dispose();
        }
    }

    /// <summary>Yields zeros, then fails like a disk that went away.</summary>
    private sealed class FailingStream(int failAfter) : Stream
    {
        private int position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (position >= failAfter)
            {
                throw new IOException("disk went away");
            }

            var n = Math.Min(count, failAfter - position);
            Array.Clear(buffer, offset, n);
            position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
