using Moat.Detect.Detectors;

namespace Moat.Host.Watch;

/// <summary>Alerts raised outside the flow detectors: the egress resolver's "dns-tunnel" (docs/containment.md, "Egress by name").</summary>
public sealed partial class WatchService
{
    /// <summary>
    /// Stores <paramref name="alert"/> and applies the response policy to it, as for a detector's alert; an alert about
    /// an address no sandbox holds is dropped. Returns at once (the caller is the resolver's query path).
    /// </summary>
    public void RaiseAlert(Alert alert)
    {
        ArgumentNullException.ThrowIfNull(alert);
        _directory.RefreshIfStale();
        var sandbox = (alert.SandboxId is { } id ? _directory.ById(id) : null) ?? _directory.ByAddress(alert.Source);
        if (sandbox is not null)
        {
            _ = Task.Run(() => RespondAsync(alert with { SandboxId = sandbox.Id }, sandbox, CancellationToken.None));
        }
    }
}
