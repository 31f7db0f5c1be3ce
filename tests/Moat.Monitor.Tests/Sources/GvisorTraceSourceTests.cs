using System.Net.Sockets;
using System.Text;
using Moat.Monitor.Sources;

namespace Moat.Monitor.Tests.Sources;

/// <summary>
/// gVisor's remote trace sink protocol against <see cref="GvisorTraceSource"/>, with the test playing the sentry over
/// a real SOCK_SEQPACKET socket: handshake, an execve point, and hostile input (the sentry is not trusted).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class GvisorTraceSourceTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("moat-trace-").FullName;
    private string? _allowed = "sb1";
    private GvisorTraceSource _source = null!;

    public Task InitializeAsync()
    {
        _source = GvisorTraceSource.Listen(Path.Combine(_dir, "trace.sock"), _ => _allowed);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _source.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public async Task An_execve_point_after_the_handshake_becomes_an_exec_of_the_connecting_sandbox()
    {
        using var sentry = await ConnectAsync([0x08, 0x01]);
        var context = Concat(Varint(1, 1_764_000_000_000_000_000), Varint(4, 42), Bytes(8, "/work"), Bytes(6, "someone-else"));
        var exec = Concat(Bytes(1, context), Bytes(2, "/usr/bin/true"), Bytes(3, "/bin/true"), Bytes(3, "-x"), Bytes(4, "SECRET=1"), Bytes(8, new byte[32]));
        await sentry.SendAsync(Message(3, exec), SocketFlags.None);

        var got = await _source.Execs.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        // The container id inside the message is ignored: the stream is the connecting process's sandbox.
        Assert.Equal(("sb1", 42, "/usr/bin/true", "/work"), (got.SandboxId, got.Pid, got.Path, got.Cwd));
        Assert.Equal(["/bin/true", "-x"], got.Argv);
        Assert.Equal(new string('0', 64), got.Sha256);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_764_000_000_000), got.Time);
    }

    [Fact]
    public async Task A_malformed_message_ends_the_stream_with_a_gap_and_dropped_points_are_reported()
    {
        using var sentry = await ConnectAsync([0x08, 0x01]);
        await sentry.SendAsync(Message(3, Concat(Bytes(2, "/bin/ok")), dropped: 5), SocketFlags.None);
        var dropped = await NextGapAsync();
        Assert.Contains("dropped 5", dropped.Detail, StringComparison.Ordinal);
        Assert.Equal("/bin/ok", (await _source.Execs.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10))).Path);

        // A length that runs past the message.
        await sentry.SendAsync(Message(3, [0x12, 0x7F, 0x41], dropped: 5), SocketFlags.None);
        Assert.Contains("malformed", (await NextGapAsync()).Detail, StringComparison.Ordinal);
        Assert.True(await ClosedAsync(sentry));
    }

    [Fact]
    public async Task A_wrong_version_or_a_stranger_is_refused_with_a_gap()
    {
        using (var wrong = await ConnectAsync([0x08, 0x63], expectAnswer: false))
        {
            Assert.Contains("handshake", (await NextGapAsync()).Detail, StringComparison.Ordinal);
        }

        _allowed = null;
        using var stranger = await ConnectAsync([0x08, 0x01], expectAnswer: false);
        Assert.Contains("refused", (await NextGapAsync()).Detail, StringComparison.Ordinal);
        Assert.True(await ClosedAsync(stranger));
    }

    private async Task<Socket> ConnectAsync(byte[] handshake, bool expectAnswer = true)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Seqpacket, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(_source.SocketPath));
        try
        {
            await socket.SendAsync(handshake, SocketFlags.None);
        }
        catch (SocketException e) when (!expectAnswer && e.SocketErrorCode is SocketError.Shutdown or SocketError.ConnectionReset)
        {
            // A refused peer may be closed before it has sent anything; the gap and the closed socket tell the rest.
        }

        if (expectAnswer)
        {
            var answer = new byte[16];
            var n = await socket.ReceiveAsync(answer, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(handshake, answer[..n]);
        }

        return socket;
    }

    /// <summary>Whether the source closed the connection (an orderly end, or a reset when it left data unread).</summary>
    private static async Task<bool> ClosedAsync(Socket socket)
    {
        try
        {
            return await socket.ReceiveAsync(new byte[16], SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(10)) == 0;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return true;
        }
    }

    private async Task<GapRecord> NextGapAsync() =>
        await _source.Gaps.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));

    private static byte[] Message(ushort type, byte[] payload, uint dropped = 0)
    {
        var header = new byte[8];
        BitConverter.TryWriteBytes(header.AsSpan(0, 2), (ushort)8);
        BitConverter.TryWriteBytes(header.AsSpan(2, 2), type);
        BitConverter.TryWriteBytes(header.AsSpan(4, 4), dropped);
        return Concat(header, payload);
    }

    private static byte[] Varint(int field, ulong value) => Concat(Raw((ulong)(field << 3)), Raw(value));

    private static byte[] Bytes(int field, string text) => Bytes(field, Encoding.UTF8.GetBytes(text));

    private static byte[] Bytes(int field, byte[] data) => Concat(Raw((ulong)((field << 3) | 2)), Raw((ulong)data.Length), data);

    private static byte[] Raw(ulong value)
    {
        var bytes = new List<byte>();
        do
        {
            var b = (byte)(value & 0x7F);
            value >>= 7;
            bytes.Add(value == 0 ? b : (byte)(b | 0x80));
        }
        while (value != 0);
        return [.. bytes];
    }

    private static byte[] Concat(params byte[][] parts) => [.. parts.SelectMany(p => p)];
}
