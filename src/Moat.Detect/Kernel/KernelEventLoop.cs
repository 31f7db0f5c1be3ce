using System.Runtime.Versioning;
using System.Threading.Channels;
using Moat.Detect.Flows;

namespace Moat.Detect.Kernel;

/// <summary>Receives netlink datagrams on a dedicated thread, turns them into flow events and queues them for the reader.</summary>
[SupportedOSPlatform("linux")]
internal sealed class KernelEventLoop : IAsyncDisposable
{
    private const int QueueCapacity = 65_536;
    private readonly NetlinkSocket _socket;
    private readonly Action<ushort, ushort, ReadOnlySpan<byte>, List<FlowEvent>> _decode;
    private readonly Channel<FlowEvent> _channel = Channel.CreateBounded<FlowEvent>(
        new BoundedChannelOptions(QueueCapacity) { FullMode = BoundedChannelFullMode.DropWrite, SingleWriter = true });
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _kernelOverruns;
    private long _queueDrops;

    internal KernelEventLoop(NetlinkSocket socket, Action<ushort, ushort, ReadOnlySpan<byte>, List<FlowEvent>> decode)
    {
        _socket = socket;
        _decode = decode;
        _loop = Task.Factory.StartNew(Run, _stop.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    internal long KernelOverruns => Interlocked.Read(ref _kernelOverruns);

    internal long QueueDrops => Interlocked.Read(ref _queueDrops);

    internal IAsyncEnumerable<FlowEvent> ReadAllAsync(CancellationToken cancellationToken) => _channel.Reader.ReadAllAsync(cancellationToken);

    private void Run()
    {
        var buffer = new byte[256 * 1024];
        var events = new List<FlowEvent>();
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                int n = _socket.Receive(buffer);
                if (n < 0)
                {
                    Interlocked.Increment(ref _kernelOverruns);
                    continue;
                }

                foreach (var (type, flags, _, body) in NetlinkMessages.Split(buffer.AsSpan(0, n)))
                {
                    _decode(type, flags, body.Span, events);
                }

                foreach (var e in events)
                {
                    if (!_channel.Writer.TryWrite(e))
                    {
                        Interlocked.Increment(ref _queueDrops);
                    }
                }

                events.Clear();
            }

            _channel.Writer.TryComplete();
        }
        catch (Exception e)
        {
            // The reader sees the failure when it drains the queue; the loop never dies silently.
            _channel.Writer.TryComplete(e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _socket.Dispose();
        _stop.Dispose();
    }
}
