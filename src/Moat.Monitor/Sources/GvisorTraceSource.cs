using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.Versioning;
using System.Text;
using System.Threading.Channels;

namespace Moat.Monitor.Sources;

/// <summary>A program execution as a gVisor sandbox's own kernel (the sentry) reported it through runsc trace.</summary>
/// <param name="Pid">The thread group id inside the sandbox (gVisor's, not a host pid).</param>
/// <param name="StreamEnded">Not an exec: the sandbox's trace stream ended (it stopped); every exec it reported came
/// before this in the channel.</param>
public sealed record SandboxKernelExec(DateTimeOffset Time, string SandboxId, int Pid, string? Path, IReadOnlyList<string> Argv, string? Cwd, string? Sha256, bool StreamEnded = false);

/// <summary>
/// The receiving end of gVisor's "remote" trace sink (runsc's <c>--pod-init-config</c>): a SOCK_SEQPACKET Unix socket
/// each sandbox's runsc connects to, a version handshake, then one message per trace point (an 8-byte header: header
/// size, message type, dropped count; then a protobuf payload). Only <c>sentry/execve</c> points are read.
/// </summary>
/// <remarks>
/// gVisor's threat model does not trust the sentry, so every byte is treated as hostile: sizes are bounded, a
/// malformed message ends that sandbox's stream with a gap, and the sandbox a stream belongs to is not taken from the
/// messages (which carry a container id the sentry could forge) but from the process that connected, which is the
/// host-side runsc the agent started (<paramref name="sandboxOfPeer"/>, given its pid).
/// </remarks>
[SupportedOSPlatform("linux")]
public sealed class GvisorTraceSource : IAsyncDisposable
{
    /// <summary>The wire versions this reader speaks (runsc 2022-12 sends 1).</summary>
    public static readonly IReadOnlySet<ulong> Versions = new HashSet<ulong> { 1, 2 };

    private const int MaxMessage = 1 << 20;
    private const int MaxArgs = 256;
    private const int MaxString = 4096;
    private const ushort MessageSentryExec = 3;

    private readonly Socket _listener;
    private readonly Func<int, string?> _sandboxOfPeer;
    private readonly TimeProvider _time;
    private readonly Channel<GapRecord> _gaps = Channel.CreateUnbounded<GapRecord>();
    private readonly Channel<SandboxKernelExec> _execs = Channel.CreateUnbounded<SandboxKernelExec>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    private GvisorTraceSource(Socket listener, string path, Func<int, string?> sandboxOfPeer, TimeProvider time)
    {
        _listener = listener;
        SocketPath = path;
        _sandboxOfPeer = sandboxOfPeer;
        _time = time;
        _accepting = Task.Run(AcceptLoopAsync);
    }

    public string SocketPath { get; }

    /// <summary>Executions reported by sandboxes' kernels.</summary>
    public ChannelReader<SandboxKernelExec> Execs => _execs.Reader;

    /// <summary>What could not be read: refused connections, malformed messages, points gVisor dropped.</summary>
    public ChannelReader<GapRecord> Gaps => _gaps.Reader;

    /// <summary>Listens at <paramref name="path"/> (replacing a stale socket file left there).</summary>
    public static GvisorTraceSource Listen(string path, Func<int, string?> sandboxOfPeer, TimeProvider? time = null)
    {
        File.Delete(path);
        var socket = new Socket(AddressFamily.Unix, SocketType.Seqpacket, ProtocolType.Unspecified);
        try
        {
            socket.Bind(new UnixDomainSocketEndPoint(path));
            socket.Listen(64);
            return new GvisorTraceSource(socket, path, sandboxOfPeer, time ?? TimeProvider.System);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The runsc <c>--pod-init-config</c> that sends every sandbox's execs here; runsc still starts a sandbox
    /// when this source is not listening (the sandbox then goes unobserved, which the agent reports).</summary>
    public static string PodInitConfig(string socketPath) => System.Text.Json.JsonSerializer.Serialize(new
    {
        trace_session = new
        {
            name = "Default",
            points = new[] { new { name = "sentry/execve", optional_fields = new[] { "binary_info" }, context_fields = new[] { "time", "group_id", "cwd" } } },
            sinks = new[] { new { name = "remote", config = new Dictionary<string, object> { ["endpoint"] = socketPath }, ignore_setup_error = true } },
        },
    });

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        try
        {
            await _accepting.ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        _stop.Dispose();
        File.Delete(SocketPath);
        _execs.Writer.TryComplete();
        _gaps.Writer.TryComplete();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using (client)
        {
            var peer = PeerPid(client);
            var sandboxId = peer is { } pid ? _sandboxOfPeer(pid) : null;
            if (sandboxId is null)
            {
                Gap(null, $"a trace stream from process {peer?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "(unknown)"} was refused: it is not a runsc this agent started for one of its sandboxes");
                return;
            }

            var buffer = new byte[MaxMessage];
            try
            {
                // Handshake: the sentry sends its version, we answer with the same one when we speak it.
                var n = await client.ReceiveAsync(buffer.AsMemory(0, 1024), SocketFlags.None, _stop.Token).ConfigureAwait(false);
                if (!TryReadVersion(buffer.AsSpan(0, n), out var version) || !Versions.Contains(version))
                {
                    Gap(sandboxId, $"gVisor's trace handshake was not a version this agent speaks ({Convert.ToHexString(buffer, 0, Math.Min(n, 16))}): the sandbox's execs are not observed");
                    return;
                }

                await client.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, _stop.Token).ConfigureAwait(false);
                uint dropped = 0;
                while (true)
                {
                    // One receive is one message (SOCK_SEQPACKET); one that fills the buffer may have been cut off.
                    var received = await client.ReceiveAsync(buffer, SocketFlags.None, _stop.Token).ConfigureAwait(false);
                    if (received == 0)
                    {
                        return; // the sandbox stopped
                    }

                    if (received == buffer.Length)
                    {
                        Gap(sandboxId, $"a trace message of {MaxMessage} bytes or more was cut off and skipped");
                        continue;
                    }

                    var error = Handle(sandboxId, buffer.AsSpan(0, received), ref dropped);
                    if (error is not null)
                    {
                        Gap(sandboxId, $"gVisor's trace stream sent a malformed message ({error}); the rest of this sandbox's stream is not read");
                        return;
                    }
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // The agent is stopping, or runsc went away.
            }
            finally
            {
                _execs.Writer.TryWrite(new SandboxKernelExec(_time.GetUtcNow(), sandboxId, -1, null, [], null, null, StreamEnded: true));
            }
        }
    }

    /// <summary>Reads one message; returns why it is malformed, or null.</summary>
    private string? Handle(string sandboxId, ReadOnlySpan<byte> message, ref uint dropped)
    {
        if (message.Length < 8)
        {
            return $"{message.Length} bytes, shorter than the 8-byte header";
        }

        var headerSize = BinaryPrimitives.ReadUInt16LittleEndian(message);
        var type = BinaryPrimitives.ReadUInt16LittleEndian(message[2..]);
        var droppedNow = BinaryPrimitives.ReadUInt32LittleEndian(message[4..]);
        if (headerSize < 8 || headerSize > message.Length)
        {
            return $"header size {headerSize} of a {message.Length}-byte message";
        }

        if (droppedNow != dropped)
        {
            Gap(sandboxId, $"gVisor dropped {unchecked(droppedNow - dropped)} trace points (its queue to this agent was full): execs are missing from the record");
            dropped = droppedNow;
        }

        if (type != MessageSentryExec)
        {
            return null; // other points are not asked for; a sentry sending them anyway is ignored
        }

        if (TryDecodeExec(sandboxId, message[headerSize..], out var exec) is { } malformed)
        {
            return malformed;
        }

        _execs.Writer.TryWrite(exec!);
        return null;
    }

    /// <summary>Decodes gVisor's ExecveInfo (context 1: time 1, group id 4, cwd 8; binary path 2; argv 3; sha256 8).</summary>
    internal string? TryDecodeExec(string sandboxId, ReadOnlySpan<byte> payload, out SandboxKernelExec? exec)
    {
        exec = null;
        var reader = new ProtoReader(payload);
        long timeNs = 0;
        int pid = 0;
        string? cwd = null, path = null, sha = null;
        var argv = new List<string>();
        while (!reader.End)
        {
            if (!reader.TryReadTag(out var field, out var wire))
            {
                return "a bad field tag";
            }

            if (field == 1 && wire == 2)
            {
                if (!reader.TryReadBytes(out var context) || DecodeContext(context, ref timeNs, ref pid, ref cwd) is not null)
                {
                    return "a bad context";
                }
            }
            else if (field == 2 && wire == 2 && reader.TryReadBytes(out var p))
            {
                path = Text(p);
            }
            else if (field == 3 && wire == 2 && reader.TryReadBytes(out var a))
            {
                if (argv.Count < MaxArgs)
                {
                    argv.Add(Text(a));
                }
            }
            else if (field == 8 && wire == 2 && reader.TryReadBytes(out var h))
            {
                sha = h.Length == 32 ? Convert.ToHexStringLower(h) : null;
            }
            else if (!reader.TrySkip(wire))
            {
                return $"field {field} of wire type {wire} runs past the message";
            }
        }

        var time = timeNs is > 0 and < 4_102_444_800_000_000_000 ? DateTimeOffset.FromUnixTimeMilliseconds(timeNs / 1_000_000) : _time.GetUtcNow();
        exec = new SandboxKernelExec(time, sandboxId, pid, path, argv, cwd, sha);
        return null;
    }

    private static string? DecodeContext(ReadOnlySpan<byte> context, ref long timeNs, ref int pid, ref string? cwd)
    {
        var reader = new ProtoReader(context);
        while (!reader.End)
        {
            if (!reader.TryReadTag(out var field, out var wire))
            {
                return "tag";
            }

            if (field == 1 && wire == 0 && reader.TryReadVarint(out var t))
            {
                timeNs = (long)Math.Min(t, long.MaxValue);
            }
            else if (field == 4 && wire == 0 && reader.TryReadVarint(out var g))
            {
                pid = (int)Math.Min(g, int.MaxValue);
            }
            else if (field == 8 && wire == 2 && reader.TryReadBytes(out var c))
            {
                cwd = Text(c);
            }
            else if (!reader.TrySkip(wire))
            {
                return "field";
            }
        }

        return null;
    }

    private static string Text(ReadOnlySpan<byte> bytes) =>
        Encoding.UTF8.GetString(bytes.Length > MaxString ? bytes[..MaxString] : bytes);

    private static bool TryReadVersion(ReadOnlySpan<byte> handshake, out ulong version)
    {
        version = 0;
        var reader = new ProtoReader(handshake);
        while (!reader.End)
        {
            if (!reader.TryReadTag(out var field, out var wire))
            {
                return false;
            }

            if (field == 1 && wire == 0)
            {
                return reader.TryReadVarint(out version);
            }

            if (!reader.TrySkip(wire))
            {
                return false;
            }
        }

        return false;
    }

    private static int? PeerPid(Socket socket)
    {
        // SO_PEERCRED (SOL_SOCKET 1, option 17): struct ucred { pid, uid, gid }, filled in by the kernel.
        Span<byte> cred = stackalloc byte[12];
        try
        {
            return socket.GetRawSocketOption(1, 17, cred) == 12 ? BinaryPrimitives.ReadInt32LittleEndian(cred) : null;
        }
        catch (SocketException)
        {
            return null;
        }
    }

    private void Gap(string? sandboxId, string detail) =>
        _gaps.Writer.TryWrite(new GapRecord(_time.GetUtcNow(), sandboxId, "runsc-trace", detail));
}
