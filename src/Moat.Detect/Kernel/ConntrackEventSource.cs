using System.Runtime.Versioning;
using Moat.Detect.Flows;

namespace Moat.Detect.Kernel;

/// <summary>Live flow events of one network namespace (one sandbox) from conntrack's NEW / UPDATE / DESTROY netlink groups.</summary>
[SupportedOSPlatform("linux")]
public sealed class ConntrackEventSource : IAsyncDisposable
{
    private const int GroupNew = 1;
    private const int GroupUpdate = 2;
    private const int GroupDestroy = 3;
    private readonly KernelEventLoop _loop;

    private ConntrackEventSource(NetlinkSocket socket, string? sandboxId, TimeProvider time)
    {
        var mapper = new ConntrackFlowMapper();
        _loop = new KernelEventLoop(socket, (type, flags, body, output) =>
        {
            if (ConntrackEntry.Parse(type, flags, body) is { } entry)
            {
                mapper.Map(entry, time.GetUtcNow(), sandboxId, output);
            }
        });
    }

    /// <summary>Connection-tracking overruns (ENOBUFS): the kernel dropped events because they were not read fast enough.</summary>
    public long KernelOverruns => _loop.KernelOverruns;

    /// <summary>Events dropped because the reader did not keep up with the queue.</summary>
    public long QueueDrops => _loop.QueueDrops;

    /// <summary>
    /// Subscribes to conntrack events. With <paramref name="networkNamespacePath"/> (e.g. /var/run/netns/NAME) the
    /// events are those of that namespace; events carry <paramref name="sandboxId"/>. Byte counts on closed flows need
    /// net.netfilter.nf_conntrack_acct=1 in that namespace; conntrack only runs in a namespace with a rule that uses it.
    /// </summary>
    public static ConntrackEventSource Open(string? sandboxId = null, string? networkNamespacePath = null, TimeProvider? time = null)
    {
        uint groups = (1u << (GroupNew - 1)) | (1u << (GroupUpdate - 1)) | (1u << (GroupDestroy - 1));
        var socket = NetlinkSocket.Open(networkNamespacePath, groups, TimeSpan.FromMilliseconds(200));
        return new ConntrackEventSource(socket, sandboxId, time ?? TimeProvider.System);
    }

    /// <summary>The events, in the order the kernel sent them, until disposed or cancelled.</summary>
    public IAsyncEnumerable<FlowEvent> ReadAllAsync(CancellationToken cancellationToken = default) => _loop.ReadAllAsync(cancellationToken);

    public ValueTask DisposeAsync() => _loop.DisposeAsync();
}
