using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Moat.Host.Sandboxes;
using Moat.Mtd.Relocation.Network;

namespace Moat.Mtd.Relocation;

/// <summary>Settings of the relocation coordinator.</summary>
public sealed record RelocationOptions
{
    public static RelocationOptions Default { get; } = new();

    /// <summary>How long the new copy has to answer on the service port before the move is undone.</summary>
    public TimeSpan ServeTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Interval between probes of the new copy's service port.</summary>
    public TimeSpan ProbeInterval { get; init; } = TimeSpan.FromMilliseconds(5);

    /// <summary>Called as each stage is reached (tests use it to inject faults at a known point).</summary>
    public Func<RelocationStage, CancellationToken, Task>? Observer { get; init; }

    /// <summary>Interval between the probes that record what a client at the service address saw (<see cref="ClientView"/>).</summary>
    public TimeSpan ClientProbeInterval { get; init; } = TimeSpan.FromMilliseconds(20);
}

/// <summary>
/// Moves one sandbox from one host to another: live for the gvisor tier (runsc checkpoint and restore; a CRIU path for
/// the container tier is not built, since CRIU fails on this kernel, see docs/mtd.md), otherwise cold — reserve a stopped copy on the destination (so a full or broken destination fails before any downtime), stop the
/// source, stream its writable layer and /data volume to the copy, start it, wait until it serves, switch the VIP,
/// withdraw the old address, destroy the source. Any failure before the switch destroys the copy and restarts the
/// source, so the sandbox keeps running where it was with nothing lost; the report says what happened.
/// </summary>
public sealed partial class RelocationCoordinator(RelocationOptions? options = null, ILogger<RelocationCoordinator>? logger = null)
{
    private readonly RelocationOptions _options = options ?? RelocationOptions.Default;
    private readonly ILogger _log = logger ?? NullLogger<RelocationCoordinator>.Instance;

    /// <summary>Relocates <paramref name="sandbox"/> (name or id on <paramref name="source"/>) to <paramref name="destination"/>.</summary>
    /// <returns>The report; a failed move is an outcome in it, not an exception.</returns>
    /// <exception cref="RelocationHostException">The sandbox could not even be inspected on the source (nothing was changed).</exception>
    public async Task<RelocationReport> RelocateAsync(
        string sandbox,
        IRelocationHost source,
        IRelocationHost destination,
        ServiceBinding? service = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(destination);
        if (ReferenceEquals(source, destination) || string.Equals(source.Name, destination.Name, StringComparison.Ordinal))
        {
            throw new ArgumentException($"source and destination are the same host '{source.Name}'; name another host to move sandbox {sandbox} to.");
        }

        var total = Stopwatch.StartNew();
        var details = await source.InspectAsync(sandbox, cancellationToken).ConfigureAwait(false);
        var s = details.Sandbox;
        if (s.State is not SandboxState.Running)
        {
            throw new RelocationHostException(source.Name, $"relocate sandbox {s.DisplayName}", $"it is {s.State.ToString().ToLowerInvariant()}; only a running sandbox is relocated");
        }

        var state = new Attempt(s.DisplayName, source.Name, destination.Name, s.Id, s.Address);
        state.LiveUnavailable = await LiveUnavailableAsync(source, destination, s.Tier, state, cancellationToken).ConfigureAwait(false);

        // 1. Reserve the copy: a destination that is full, unreachable or has another image fails here, before any downtime.
        Sandbox reserved;
        try
        {
            reserved = await destination.ReserveAsync(new SandboxManifest(s.Spec, s.ImageDigest, s.Tier, s.Id), cancellationToken).ConfigureAwait(false);
        }
        catch (RelocationHostException e)
        {
            return state.Report(RelocationOutcome.RolledBack, $"reserving a copy on {destination.Name} failed, the sandbox never stopped: {e.Message}", total.Elapsed);
        }

        state.DestinationId = reserved.Id;
        if (service is not null && state.LiveUnavailable is not null)
        {
            // From here a client at the service address is watched: what it saw goes into the report. A move that will
            // try live is watched only from its checkpoint on, holding no connection: runsc cannot checkpoint a
            // sandbox with a connected TCP endpoint, so a watcher's connection would itself make the move cold.
            state.Watch = await ClientViewWatch.StartAsync(service, _options.ClientProbeInterval, holdConnection: true, cancellationToken).ConfigureAwait(false);
        }

        var downtime = new Stopwatch();
        try
        {
            await ObserveAsync(RelocationStage.Reserved, cancellationToken).ConfigureAwait(false);

            // 2. Checkpoint the source (live: its processes' state goes with it) or stop it (cold): from here the
            // service is down. A checkpoint that fails falls back to a cold move; either way the source stays whole.
            downtime.Start();
            if (state.LiveUnavailable is null)
            {
                try
                {
                    await source.CheckpointAsync(s.Id, cancellationToken).ConfigureAwait(false);
                    state.Checkpointed = true;
                }
                catch (RelocationHostException e)
                {
                    state.LiveUnavailable = $"the checkpoint failed, so the move is cold: {e.Message}";
                }
            }

            state.SourceStopped = true;
            if (!state.Checkpointed)
            {
                await source.StopAsync(s.Id, cancellationToken).ConfigureAwait(false);
            }

            if (service is not null && state.Watch is null)
            {
                state.Watch = await ClientViewWatch.StartAsync(service, _options.ClientProbeInterval, holdConnection: false, cancellationToken).ConfigureAwait(false);
            }

            await ObserveAsync(RelocationStage.SourceStopped, cancellationToken).ConfigureAwait(false);

            // 3. Stream the writable layer and the volume straight from source to destination, and start the copy.
            ImportResult imported;
            await using (var export = new CountingStream(await source.ExportStateAsync(s.Id, cancellationToken).ConfigureAwait(false)))
            {
                try
                {
                    imported = await destination.ImportStateAsync(reserved.Id, export, cancellationToken).ConfigureAwait(false);
                }
                finally
                {
                    state.Bytes = export.Count;
                }
            }

            state.NewAddress = imported.Sandbox.Address;
            state.Restored = imported.Restored;
            if (state.Checkpointed && !imported.Restored)
            {
                state.LiveUnavailable = imported.CheckpointDiscarded is { } why
                    ? $"{destination.Name} booted the sandbox instead of restoring it (its processes restarted): {why}"
                    : $"{destination.Name} could not restore the checkpoint and booted the sandbox instead (its processes restarted)";
            }

            await ObserveAsync(RelocationStage.StateMoved, cancellationToken).ConfigureAwait(false);

            // 4. The copy must serve before clients are sent to it.
            if (service is not null)
            {
                var copy = await destination.InspectAsync(reserved.Id, cancellationToken).ConfigureAwait(false);
                if (service.Exposure is not null)
                {
                    await service.Exposure.ExposeAsync(destination, copy, cancellationToken).ConfigureAwait(false);
                }

                await WaitServingAsync(service, IPAddress.Parse(imported.Sandbox.Address!), destination.Name, cancellationToken).ConfigureAwait(false);
                await ObserveAsync(RelocationStage.Serving, cancellationToken).ConfigureAwait(false);

                // 5. Switch the VIP (one atomic change): the service is back.
                var old = await service.Addressing.SwitchAsync(service.Vip, IPAddress.Parse(imported.Sandbox.Address!), cancellationToken).ConfigureAwait(false);
                state.Switched = true;
                downtime.Stop();
                await ObserveAsync(RelocationStage.Switched, cancellationToken).ConfigureAwait(false);
                if (old is not null)
                {
                    await Warn(state, () => service.Addressing.WithdrawAsync(service.Vip, old, CancellationToken.None)).ConfigureAwait(false);
                }
            }
            else
            {
                downtime.Stop();
            }
        }
        catch (Exception e) when (e is RelocationHostException or ServiceAddressException or MtdException or IOException or HttpRequestException or OperationCanceledException)
        {
            // A cancelled move is undone like a failed one (before the switch): never two copies, never none running.
            if (state.Switched)
            {
                // Clients already use the copy: it is the sandbox now. Only the clean-up below remains.
                state.Warnings.Add($"after the VIP switched: {e.Message}");
            }
            else
            {
                var reason = e is OperationCanceledException ? "the move was cancelled" : e.Message;
                LogRollingBack(_log, state.Name, source.Name, destination.Name, reason);
                return await RollBackAsync(state, source, destination, reason, total).ConfigureAwait(false);
            }
        }

        if (state.Watch is { } watch)
        {
            state.ClientView = await watch.StopAsync().ConfigureAwait(false);
            state.Watch = null;
        }

        // 6. The source copy goes; its address is released with it.
        await Warn(state, () => source.DestroyAsync(s.Id, CancellationToken.None)).ConfigureAwait(false);
        state.Downtime = downtime.Elapsed;
        LogMoved(_log, state.Name, source.Name, destination.Name, state.Bytes, downtime.Elapsed.TotalMilliseconds);
        return state.Report(RelocationOutcome.Moved, null, total.Elapsed);
    }

    private async Task<RelocationReport> RollBackAsync(Attempt state, IRelocationHost source, IRelocationHost destination, string reason, Stopwatch total)
    {
        if (state.DestinationId is { } copy)
        {
            await Warn(state, () => destination.DestroyAsync(copy, CancellationToken.None), $"the reserved copy {copy} on {destination.Name} could not be removed").ConfigureAwait(false);
        }

        var outcome = RelocationOutcome.RolledBack;
        if (state.SourceStopped)
        {
            try
            {
                await source.StartAsync(state.SourceId, CancellationToken.None).ConfigureAwait(false);
            }
            catch (RelocationHostException e)
            {
                outcome = RelocationOutcome.Stranded;
                state.Warnings.Add($"restarting the sandbox on {source.Name} failed; its layer and volume are intact there, stopped: {e.Message}");
            }
        }

        if (state.Watch is { } watch)
        {
            state.ClientView = await watch.StopAsync().ConfigureAwait(false);
            state.Watch = null;
        }

        state.DestinationId = null;
        state.NewAddress = null;
        return state.Report(outcome, $"moving sandbox {state.Name} from {source.Name} to {destination.Name} failed: {reason}", total.Elapsed);
    }

    private async Task WaitServingAsync(ServiceBinding service, IPAddress address, string host, CancellationToken cancellationToken)
    {
        var deadline = Stopwatch.StartNew();
        while (!await service.Addressing.ProbeAsync(address, service.Port, TimeSpan.FromMilliseconds(250), cancellationToken).ConfigureAwait(false))
        {
            if (deadline.Elapsed > _options.ServeTimeout)
            {
                throw new MtdException($"the copy on {host} ({address}) did not answer on port {service.Port} within {_options.ServeTimeout.TotalSeconds:0.#} s");
            }

            await Task.Delay(_options.ProbeInterval, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Null when both hosts can move a sandbox of <paramref name="tier"/> live, else why not (one reason for all
    /// the hosts that share it).</summary>
    private static async Task<string?> LiveUnavailableAsync(IRelocationHost source, IRelocationHost destination, RuntimeTier tier, Attempt state, CancellationToken cancellationToken)
    {
        var reasons = new List<(string Host, string Reason)>();
        var criuOnBoth = true;
        foreach (var host in (IRelocationHost[])[source, destination])
        {
            try
            {
                var support = await host.CheckpointSupportAsync(cancellationToken).ConfigureAwait(false);
                criuOnBoth &= support.Available;
                if (tier == RuntimeTier.Gvisor && !support.GvisorAvailable)
                {
                    reasons.Add((host.Name, $"gvisor checkpoint unavailable: {support.GvisorReason ?? "the host does not say"}"));
                }
                else if (tier != RuntimeTier.Gvisor && !support.Available)
                {
                    reasons.Add((host.Name, $"unavailable: {support.Reason}"));
                }
            }
            catch (RelocationHostException e)
            {
                reasons.Add((host.Name, $"unknown: {e.Message}"));
                state.Warnings.Add(e.Message);
            }
        }

        if (reasons.Count == 0 && tier != RuntimeTier.Gvisor && criuOnBoth)
        {
            // CRIU fails on this machine's kernel (docs/mtd.md), so a CRIU path could not be tested and is not built.
            return $"live migration of the {tier.ToString().ToLowerInvariant()} tier through CRIU is not built yet (only the gvisor tier moves live)";
        }

        // Hosts of one kind fail for the same reason: say it once, after the hosts it holds for.
        return reasons.Count == 0 ? null : string.Join("; ", reasons.GroupBy(r => r.Reason, StringComparer.Ordinal)
            .Select(g => $"{string.Join(", ", g.Select(r => r.Host))}: {g.Key}"));
    }

    private async Task ObserveAsync(RelocationStage stage, CancellationToken cancellationToken)
    {
        if (_options.Observer is { } observer)
        {
            await observer(stage, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task Warn(Attempt state, Func<Task> step, string? what = null)
    {
        try
        {
            await step().ConfigureAwait(false);
        }
        catch (Exception e) when (e is RelocationHostException or ServiceAddressException)
        {
            state.Warnings.Add(what is null ? e.Message : $"{what}: {e.Message}");
        }
    }

    /// <summary>What one relocation has done so far.</summary>
    private sealed class Attempt(string name, string from, string to, string sourceId, string? oldAddress)
    {
        public string Name { get; } = name;

        public string SourceId { get; } = sourceId;

        public string? LiveUnavailable { get; set; }

        public string? DestinationId { get; set; }

        public string? NewAddress { get; set; }

        public bool SourceStopped { get; set; }

        /// <summary>The source was checkpointed (its start, on a rollback, restores it).</summary>
        public bool Checkpointed { get; set; }

        /// <summary>The destination restored the checkpoint: the move was live.</summary>
        public bool Restored { get; set; }

        public bool Switched { get; set; }

        public long Bytes { get; set; }

        public TimeSpan Downtime { get; set; }

        public List<string> Warnings { get; } = [];

        /// <summary>The watch of the service address while the move runs (null without one, or once stopped).</summary>
        public ClientViewWatch? Watch { get; set; }

        public ClientView? ClientView { get; set; }

        public RelocationReport Report(RelocationOutcome outcome, string? failure, TimeSpan total) => new(
            Name, from, to, Restored && outcome == RelocationOutcome.Moved ? MigrationMode.Live : MigrationMode.Cold,
            Restored && outcome == RelocationOutcome.Moved ? null : LiveUnavailable, outcome, failure, Bytes,
            outcome == RelocationOutcome.Moved ? Downtime : TimeSpan.Zero, total, SourceId,
            outcome == RelocationOutcome.Moved ? DestinationId : null, oldAddress, outcome == RelocationOutcome.Moved ? NewAddress : null, Warnings)
        {
            ClientView = ClientView,
        };
    }

    [LoggerMessage(EventId = 800, Level = LogLevel.Information, Message = "Moved sandbox {Name} from {From} to {To}: {Bytes} bytes, {DowntimeMs} ms down")]
    private static partial void LogMoved(ILogger logger, string name, string from, string to, long bytes, double downtimeMs);

    [LoggerMessage(EventId = 801, Level = LogLevel.Warning, Message = "Moving sandbox {Name} from {From} to {To} failed, rolling back: {Reason}")]
    private static partial void LogRollingBack(ILogger logger, string name, string from, string to, string reason);
}
