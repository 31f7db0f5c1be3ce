using Moat.Host.Sandboxes;
using Moat.Host.Watch.Throttle;
using Moat.Linux.Namespaces;
using Moat.Linux.Nftables;

namespace Moat.Host.Watch;

public sealed partial class WatchService
{
    private readonly Dictionary<string, string> _throttled = new(StringComparer.Ordinal); // sandbox id → host interface

    /// <summary>
    /// Keeps <see cref="ScanThrottleRules"/> in the host namespace in step with the sandboxes: every sandbox that is not
    /// trusted gets its throttle when it appears in the store and loses it when it goes; the table is removed at stop.
    /// </summary>
    private async Task RunThrottleAsync(CancellationToken cancellationToken)
    {
        if (_options.ScanThrottle is not { } options)
        {
            return;
        }

        using var ns = _agent.HostNamespace is null ? null : NetworkNamespace.Open(_agent.HostNamespace);
        using var socket = ns is null ? NftSocket.Open() : NftSocket.OpenIn(ns);
        socket.Commit(ScanThrottleRules.Install(new NftTransaction()));
        try
        {
            using var timer = new PeriodicTimer(_options.RefreshInterval, _time);
            do
            {
                _directory.RefreshIfStale();
                ReconcileThrottle(socket, options);
            }
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
        }
        finally
        {
            socket.Commit(ScanThrottleRules.Uninstall(new NftTransaction()));
            _throttled.Clear();
        }
    }

    private void ReconcileThrottle(NftSocket socket, ScanThrottleOptions options)
    {
        var wanted = new Dictionary<string, Sandbox>(StringComparer.Ordinal);
        foreach (var w in _directory.All)
        {
            if (w.Mounted && w.Sandbox.Address is not null && !string.Equals(w.Trust, "trusted", StringComparison.Ordinal))
            {
                wanted[w.Id] = w.Sandbox;
            }
        }

        var t = new NftTransaction();
        int added = 0;
        foreach (var (id, sandbox) in wanted)
        {
            if (!_throttled.ContainsKey(id))
            {
                ScanThrottleRules.AddSandbox(t, id, sandbox.HostInterface, options);
                added++;
            }
        }

        var gone = _throttled.Where(p => !wanted.ContainsKey(p.Key)).ToList();
        foreach (var (id, hostInterface) in gone)
        {
            ScanThrottleRules.RemoveSandbox(t, id, hostInterface);
        }

        if (t.Count == 0)
        {
            return;
        }

        socket.Commit(t);
        foreach (var (id, sandbox) in wanted)
        {
            _throttled[id] = sandbox.HostInterface;
        }

        foreach (var (id, _) in gone)
        {
            _throttled.Remove(id);
        }
        WatchLog.ThrottleChanged(_logger, added, gone.Count, _throttled.Count);
    }
}
