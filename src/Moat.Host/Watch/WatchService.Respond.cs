using System.Globalization;
using Moat.Detect.Detectors;
using Moat.Detect.Response;
using Moat.Host.Sandboxes;

namespace Moat.Host.Watch;

public sealed partial class WatchService
{
    private readonly Dictionary<string, ResponseAction> _inForce = new(StringComparer.Ordinal);

    /// <summary>Stores the alert, decides the action for the sandbox's trust level and carries it out, unless an equal or stronger one is in force.</summary>
    private async Task RespondAsync(Alert alert, WatchedSandbox sandbox, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _networkAlerts);
        var action = _policy.Decide(Level(sandbox.Trust), alert.Detector);
        await _respondGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (action != ResponseAction.Record && _inForce.TryGetValue(sandbox.Id, out var current) && current >= action)
            {
                // The alert is kept as evidence; the response already in force covers it.
                var evidence = _store.AddAlert(alert, sandbox.Id);
                WatchLog.NetworkAlert(_logger, evidence.Id, sandbox.Id, alert.Detector, alert.Source.ToString(), alert.Target, Evidence(alert), alert.Message);
                return;
            }

            // Act first, write after: the store's commit is slower than cutting a scanner off, and nothing is lost
            // by the order (the agent writes both before it reads the next event).
            string outcome = await ApplyAsync(action, sandbox.Sandbox, cancellationToken).ConfigureAwait(false);
            var at = _time.GetUtcNow(); // when it took effect
            var stored = _store.AddAlert(alert, sandbox.Id);
            WatchLog.NetworkAlert(_logger, stored.Id, sandbox.Id, alert.Detector, alert.Source.ToString(), alert.Target, Evidence(alert), alert.Message);
            var response = _store.AddResponse(stored.Id, sandbox.Id, sandbox.Trust, ResponsePolicy.Name(action), at, outcome);
            if (response.InForce)
            {
                _inForce[sandbox.Id] = action;
            }

            WatchLog.Responded(_logger, response.Id, sandbox.Id, sandbox.Trust, response.Action, stored.Id, outcome);
        }
        finally
        {
            _respondGate.Release();
        }
    }

    private async Task<string> ApplyAsync(ResponseAction action, Sandbox sandbox, CancellationToken cancellationToken)
    {
        try
        {
            switch (action)
            {
                case ResponseAction.Record:
                    return "done: recorded";
                case ResponseAction.Throttle when _throttle is null:
                    return "not carried out: containment is off on this host (no policy), so nothing can throttle; recorded only";
                case ResponseAction.Throttle:
                    await _throttle.ThrottleAsync(sandbox, cancellationToken).ConfigureAwait(false);
                    return $"done: throttled ({_throttle.Mechanism})";
                case ResponseAction.Quarantine:
                    await _quarantine.QuarantineAsync(sandbox, cancellationToken).ConfigureAwait(false);
                    return $"done: quarantined ({_quarantine.Mechanism}); processes and files kept";
                case ResponseAction.Kill:
                    await _sandboxes.StopAsync(sandbox.Id, TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
                    return "done: processes killed (sandbox stopped; files and volume kept)";
                default:
                    return $"not carried out: unknown action {action}";
            }
        }
        catch (MoatHostException e)
        {
            return $"failed: {e.Message}";
        }
    }

    /// <summary>
    /// An operator's release: every response in force for the sandbox is undone (quarantine lifted, throttle removed;
    /// a killed sandbox is restarted with `moat sandbox start`), marked reverted by whom and when, and the sandbox's
    /// detectors start afresh.
    /// </summary>
    public async Task<IReadOnlyList<ResponseView>> ReleaseAsync(string reference, string by, CancellationToken cancellationToken = default)
    {
        var sandbox = _sandboxes.Get(reference);
        await _respondGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var inForce = _store.Responses(sandbox.Id).Where(r => r.InForce).ToList();
            if (inForce.Count == 0)
            {
                throw new InvalidRequestException($"sandbox {sandbox.DisplayName} has no response in force; nothing to release (see 'moat alerts').");
            }

            var released = new List<ResponseView>();
            foreach (var r in inForce)
            {
                if (r.Action == ResponsePolicy.Name(ResponseAction.Quarantine))
                {
                    await _quarantine.ReleaseAsync(sandbox, cancellationToken).ConfigureAwait(false);
                }
                else if (r.Action == ResponsePolicy.Name(ResponseAction.Throttle) && _throttle is not null)
                {
                    await _throttle.ReleaseAsync(sandbox, cancellationToken).ConfigureAwait(false);
                }

                var done = _store.MarkReverted(r, by, _time.GetUtcNow());
                WatchLog.Reverted(_logger, r.Id, sandbox.Id, r.Action, by);
                released.Add(done);
            }

            _inForce.Remove(sandbox.Id);
            _engines.TryRemove(sandbox.Id, out _);
            return released;
        }
        finally
        {
            _respondGate.Release();
        }
    }

    /// <summary>Alerts and responses for `moat alerts`, with the exec rules' alerts from the monitor's store.</summary>
    public async Task<AlertsReport> AlertsAsync(string? sandboxId, int limit, CancellationToken cancellationToken = default)
    {
        var exec = new List<ExecAlertView>();
        if (File.Exists(MonitorDatabase))
        {
            await using var monitor = await Moat.Monitor.Store.SqliteMonitorStore.OpenAsync(MonitorDatabase, cancellationToken).ConfigureAwait(false);
            var events = await monitor.EventsAsync(new Moat.Monitor.Store.MonitorQuery(sandboxId, null, int.MaxValue), cancellationToken).ConfigureAwait(false);
            exec.AddRange(events.OfType<Moat.Monitor.AlertRecord>().TakeLast(limit)
                .Select(a => new ExecAlertView(a.Time, a.SandboxId ?? "", a.Rule, a.Priority, a.Description, a.Pid, a.Path)));
        }

        return new AlertsReport(_store.Alerts(sandboxId, limit), _store.Responses(sandboxId, limit), exec);
    }

    /// <summary>After a restart, quarantines and throttles in force are put back (a reconciled link may have come up again).</summary>
    private async Task ReapplyAsync(CancellationToken cancellationToken)
    {
        foreach (var r in _store.Responses(null).Where(r => r.InForce))
        {
            if (_directory.ById(r.SandboxId) is not { } s)
            {
                continue;
            }

            var action = Enum.Parse<ResponseAction>(r.Action, ignoreCase: true);
            _inForce[r.SandboxId] = _inForce.TryGetValue(r.SandboxId, out var a) && a > action ? a : action;
            if (action == ResponseAction.Quarantine)
            {
                await _quarantine.QuarantineAsync(s.Sandbox, cancellationToken).ConfigureAwait(false);
                WatchLog.Reapplied(_logger, r.SandboxId, r.Id);
            }
            else if (action == ResponseAction.Throttle && _throttle is not null)
            {
                await _throttle.ThrottleAsync(s.Sandbox, cancellationToken).ConfigureAwait(false);
                WatchLog.Reapplied(_logger, r.SandboxId, r.Id);
            }
        }
    }

    private static TrustLevel Level(string trust) => trust switch
    {
        TierOptions.Trusted => TrustLevel.Trusted,
        TierOptions.SemiTrusted => TrustLevel.SemiTrusted,
        _ => TrustLevel.Untrusted,
    };

    private static string Evidence(Alert alert) =>
        string.Join(", ", alert.Evidence.Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key}={kv.Value}")));
}
