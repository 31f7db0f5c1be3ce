using System.Buffers.Binary;
using System.Runtime.Versioning;
using System.Threading.Channels;
using Moat.Detect.Capture;
using Moat.Detect.Detectors;
using Moat.Detect.Packets;

namespace Moat.Detect.Kernel;

/// <summary>
/// Fast scan containment live: packets an nftables <c>queue num N</c> rule hands to NFQUEUE get an accept or drop
/// verdict from the same filter the offline replay uses. Use <c>queue num N bypass</c> in the rule if packets should
/// flow when no containment process listens; without it they are dropped (fail closed).
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class ContainmentQueue : IAsyncDisposable
{
    private const ushort SubsysQueue = 3;
    private const ushort MsgPacket = 0;
    private const ushort MsgVerdict = 1;
    private const ushort MsgConfig = 2;
    private const ushort CfgCmd = 1;
    private const ushort CfgParams = 2;
    private const ushort AttrPacketHeader = 1;
    private const ushort AttrVerdictHeader = 2;
    private const ushort AttrPayload = 10;
    private const uint Drop = 0;
    private const uint Accept = 1;

    private readonly NetlinkSocket _socket;
    private readonly ushort _queue;
    private readonly ScanContainment _filter;
    private readonly string? _sandboxId;
    private readonly TimeProvider _time;
    private readonly Channel<Alert> _alerts = Channel.CreateBounded<Alert>(new BoundedChannelOptions(1024) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _passed;
    private long _blocked;

    private ContainmentQueue(NetlinkSocket socket, ushort queue, DetectorOptions options, string? sandboxId, TimeProvider time)
    {
        _socket = socket;
        _queue = queue;
        _filter = new ScanContainment(options);
        _sandboxId = sandboxId;
        _time = time;
        _loop = Task.Factory.StartNew(Run, _stop.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    public long Passed => Interlocked.Read(ref _passed);

    public long Blocked => Interlocked.Read(ref _blocked);

    /// <summary>Binds NFQUEUE <paramref name="queue"/> (in the given namespace, if any) and starts deciding.</summary>
    public static ContainmentQueue Open(ushort queue, DetectorOptions? options = null, string? sandboxId = null, string? networkNamespacePath = null, TimeProvider? time = null)
    {
        var socket = NetlinkSocket.Open(networkNamespacePath, 0, TimeSpan.FromMilliseconds(200));
        try
        {
            socket.Request((SubsysQueue << 8) | MsgConfig, Message(queue, CfgCmd, [1 /* NFQNL_CFG_CMD_BIND */, 0, 0, 0]));
            Span<byte> parameters = stackalloc byte[5];
            BinaryPrimitives.WriteUInt32BigEndian(parameters, 0xFFFF);
            parameters[4] = 2; // NFQNL_COPY_PACKET
            socket.Request((SubsysQueue << 8) | MsgConfig, Message(queue, CfgParams, parameters));
            return new ContainmentQueue(socket, queue, options ?? DetectorOptions.Default, sandboxId, time ?? TimeProvider.System);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Alerts raised when a source is first blocked.</summary>
    public IAsyncEnumerable<Alert> ReadAlertsAsync(CancellationToken cancellationToken = default) => _alerts.Reader.ReadAllAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _socket.Dispose();
        _stop.Dispose();
    }

    private void Run()
    {
        var buffer = new byte[256 * 1024];
        var alerts = new List<Alert>();
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                int n = _socket.Receive(buffer);
                if (n <= 0)
                {
                    continue;
                }

                foreach (var (type, _, _, body) in NetlinkMessages.Split(buffer.AsSpan(0, n)))
                {
                    Decide(type, body.Span, alerts);
                }

                foreach (var alert in alerts)
                {
                    _alerts.Writer.TryWrite(alert with { SandboxId = _sandboxId });
                }

                alerts.Clear();
            }

            _alerts.Writer.TryComplete();
        }
        catch (Exception e)
        {
            _alerts.Writer.TryComplete(e);
        }
    }

    private void Decide(ushort type, ReadOnlySpan<byte> body, List<Alert> alerts)
    {
        if (type != ((SubsysQueue << 8) | MsgPacket) || body.Length < 4)
        {
            return;
        }

        var attributes = body[4..];
        if (!NetlinkMessages.TryFind(attributes, AttrPacketHeader, out var header) || header.Length < 4)
        {
            return;
        }

        uint id = BinaryPrimitives.ReadUInt32BigEndian(header);
        var verdict = ContainmentVerdict.Pass;
        if (NetlinkMessages.TryFind(attributes, AttrPayload, out var payload) && PacketDecoder.Decode(LinkType.Raw, payload) is { } packet)
        {
            verdict = _filter.Decide(_time.GetUtcNow(), packet, alerts);
        }

        Interlocked.Increment(ref verdict == ContainmentVerdict.Pass ? ref _passed : ref _blocked);
        Span<byte> verdictHeader = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(verdictHeader, verdict == ContainmentVerdict.Pass ? Accept : Drop);
        BinaryPrimitives.WriteUInt32BigEndian(verdictHeader[4..], id);
        _socket.Send((SubsysQueue << 8) | MsgVerdict, Message(_queue, AttrVerdictHeader, verdictHeader));
    }

    private static byte[] Message(ushort queue, ushort attribute, ReadOnlySpan<byte> value)
    {
        var message = new List<byte> { 0 /* AF_UNSPEC */, 0 /* NFNETLINK_V0 */, (byte)(queue >> 8), (byte)queue };
        NetlinkMessages.WriteAttribute(message, attribute, value);
        return [.. message];
    }
}
