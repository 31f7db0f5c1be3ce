using System.Buffers.Binary;
using System.Runtime.Versioning;
using Moat.Detect.Capture;
using Moat.Detect.Flows;
using Moat.Detect.Packets;

namespace Moat.Detect.Kernel;

/// <summary>Live flow events from packets an nftables <c>log group N</c> rule sends to NFLOG, tracked like a capture.</summary>
[SupportedOSPlatform("linux")]
public sealed class NflogEventSource : IAsyncDisposable
{
    private const ushort SubsysUlog = 4;
    private const ushort MsgPacket = 0;
    private const ushort MsgConfig = 1;
    private const ushort CfgCmd = 1;
    private const ushort CfgMode = 2;
    private const byte CmdBind = 1;
    private const byte CopyPacket = 2;
    private const ushort AttrPayload = 9;
    private const ushort AttrTimestamp = 3;
    private readonly KernelEventLoop _loop;

    private NflogEventSource(NetlinkSocket socket, string? sandboxId, TimeProvider time, FlowTrackerOptions? trackerOptions)
    {
        var tracker = new FlowTracker(trackerOptions);
        _loop = new KernelEventLoop(socket, (type, flags, body, output) =>
        {
            if (type != ((SubsysUlog << 8) | MsgPacket) || body.Length < 4)
            {
                return;
            }

            var attributes = body[4..];
            if (!NetlinkMessages.TryFind(attributes, AttrPayload, out var payload))
            {
                return;
            }

            var packet = PacketDecoder.Decode(LinkType.Raw, payload);
            if (packet is null)
            {
                return;
            }

            int start = output.Count;
            tracker.Process(Timestamp(attributes, time), packet, output);
            if (sandboxId is not null)
            {
                for (int i = start; i < output.Count; i++)
                {
                    output[i] = output[i] with { SandboxId = sandboxId };
                }
            }
        });
    }

    public long KernelOverruns => _loop.KernelOverruns;

    public long QueueDrops => _loop.QueueDrops;

    /// <summary>Binds NFLOG group <paramref name="group"/> (in the given namespace, if any) and copies whole packets.</summary>
    public static NflogEventSource Open(ushort group, string? sandboxId = null, string? networkNamespacePath = null, TimeProvider? time = null, FlowTrackerOptions? trackerOptions = null)
    {
        var socket = NetlinkSocket.Open(networkNamespacePath, 0, TimeSpan.FromMilliseconds(200));
        try
        {
            socket.Request((SubsysUlog << 8) | MsgConfig, Config(group, CfgCmd, [CmdBind]));
            Span<byte> mode = stackalloc byte[6];
            BinaryPrimitives.WriteUInt32BigEndian(mode, 0xFFFF); // copy_range
            mode[4] = CopyPacket;
            socket.Request((SubsysUlog << 8) | MsgConfig, Config(group, CfgMode, mode));
            return new NflogEventSource(socket, sandboxId, time ?? TimeProvider.System, trackerOptions);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public IAsyncEnumerable<FlowEvent> ReadAllAsync(CancellationToken cancellationToken = default) => _loop.ReadAllAsync(cancellationToken);

    public ValueTask DisposeAsync() => _loop.DisposeAsync();

    private static byte[] Config(ushort group, ushort attribute, ReadOnlySpan<byte> value)
    {
        var message = new List<byte> { 0 /* AF_UNSPEC */, 0 /* NFNETLINK_V0 */, (byte)(group >> 8), (byte)group };
        NetlinkMessages.WriteAttribute(message, attribute, value);
        return [.. message];
    }

    private static DateTimeOffset Timestamp(ReadOnlySpan<byte> attributes, TimeProvider time)
    {
        if (NetlinkMessages.TryFind(attributes, AttrTimestamp, out var value) && value.Length >= 16)
        {
            ulong seconds = BinaryPrimitives.ReadUInt64BigEndian(value);
            ulong micros = BinaryPrimitives.ReadUInt64BigEndian(value[8..]);
            if (micros < 1_000_000 && seconds < 253_402_300_800 && Timestamps.TryFromUnits((seconds * 1_000_000) + micros, 1_000_000, out var stamp))
            {
                return stamp;
            }
        }

        return time.GetUtcNow();
    }
}
