using Moat.Host.Api;
using Moat.Host.Fabric;
using Moat.Host.Sandboxes;
using Moat.Xmpp;
using Moat.Xmpp.Bytestreams;

namespace Moat.Mtd.Relocation;

/// <summary>
/// <see cref="IRelocationHost"/> over the XMPP fabric: the host is an agent on another machine (or behind NAT) that the
/// coordinator reaches only through the XMPP server. Operations are the host protocol's IQs; a sandbox's state travels
/// as an in-band bytestream (XEP-0047) host → coordinator on export and coordinator → host on import, so no host needs
/// a route to another. The coordinator's account must be an administrator of every host (`--xmpp-admin`).
/// </summary>
public sealed class FabricRelocationHost : IRelocationHost
{
    private readonly FabricClient _fabric;

    /// <param name="fabric">The coordinator's session (an administrator of the host).</param>
    /// <param name="jid">The host's JID (bare: the resource its presence shows, or the agent's default one).</param>
    public FabricRelocationHost(FabricClient fabric, string jid)
    {
        ArgumentNullException.ThrowIfNull(fabric);
        ArgumentException.ThrowIfNullOrEmpty(jid);
        _fabric = fabric;
        Name = jid;
    }

    public string Name { get; }

    /// <summary>How long a transfer may take in all; each block also has its own timeout (a silent peer fails sooner).</summary>
    public TimeSpan TransferTimeout { get; init; } = TimeSpan.FromMinutes(30);

    public Task<HostStatus> StatusAsync(CancellationToken cancellationToken = default) =>
        Call<HostStatus>("report its status", "host", null, null, cancellationToken);

    public async Task<IReadOnlyList<Sandbox>> ListAsync(CancellationToken cancellationToken = default) =>
        await Call<List<Sandbox>>("list its sandboxes", "ls", null, null, cancellationToken).ConfigureAwait(false);

    public Task<SandboxDetails> InspectAsync(string sandbox, CancellationToken cancellationToken = default) =>
        Call<SandboxDetails>($"inspect sandbox {sandbox}", "inspect", sandbox, null, cancellationToken);

    public Task<CheckpointSupport> CheckpointSupportAsync(CancellationToken cancellationToken = default) =>
        Call<CheckpointSupport>("say what it can checkpoint", "checkpoint-support", null, null, cancellationToken);

    public Task<Sandbox> CheckpointAsync(string sandbox, CancellationToken cancellationToken = default) =>
        Call<Sandbox>($"checkpoint sandbox {sandbox}", "checkpoint", sandbox, null, cancellationToken);

    public Task<Sandbox> ReserveAsync(SandboxManifest manifest, CancellationToken cancellationToken = default) =>
        Call<Sandbox>($"reserve a copy of sandbox {manifest.Spec.Name ?? manifest.SourceId}", "reserve", null, manifest, cancellationToken);

    public Task<Sandbox> StopAsync(string sandbox, CancellationToken cancellationToken = default) =>
        Call<Sandbox>($"stop sandbox {sandbox}", "stop", sandbox, new FabricProtocol.StopBody(5), cancellationToken);

    public Task<Sandbox> StartAsync(string sandbox, CancellationToken cancellationToken = default) =>
        Call<Sandbox>($"start sandbox {sandbox}", "start", sandbox, null, cancellationToken);

    public Task DestroyAsync(string sandbox, CancellationToken cancellationToken = default) =>
        Call<object?>($"destroy sandbox {sandbox}", "rm", sandbox, null, cancellationToken);

    public Task<Moat.Host.Watch.AlertsReport> AlertsAsync(int limit, CancellationToken cancellationToken = default) =>
        Call<Moat.Host.Watch.AlertsReport>("report its alerts", "alerts", null, new FabricProtocol.AlertsBody(limit), cancellationToken);

    /// <summary>
    /// Asks the host to stream the sandbox's state here. Returns once the stream has begun; the stream ends cleanly only
    /// when the host has also answered that the export is whole, and fails with the host's reason otherwise.
    /// </summary>
    public async Task<Stream> ExportStateAsync(string sandbox, CancellationToken cancellationToken = default)
    {
        var operation = $"export the state of sandbox {sandbox}";
        var sid = "x" + _fabric.Xmpp.NewId();
        var incoming = _fabric.Inbox.Expect(sid, _fabric.FullJid(Name), completeOnClose: false);
        var export = Call<FabricProtocol.ExportResult>(operation, "export", sandbox, new FabricProtocol.TransferBody(sid), cancellationToken, TransferTimeout);
        _ = FinishAsync();
        try
        {
            await Task.WhenAny(incoming.Opened, export).ConfigureAwait(false);
            if (export.IsFaulted)
            {
                await export.ConfigureAwait(false); // the host's refusal (running sandbox, unknown name) as it said it
            }

            await incoming.Opened.WaitAsync(cancellationToken).ConfigureAwait(false);
            return incoming.Reader;
        }
        catch (Exception e) when (e is not (RelocationHostException or OperationCanceledException))
        {
            incoming.Dispose();
            throw new RelocationHostException(Name, operation, e.Message, e);
        }
        catch
        {
            incoming.Dispose();
            throw;
        }

        async Task FinishAsync()
        {
            try
            {
                await export.ConfigureAwait(false);
                await incoming.Closed.ConfigureAwait(false);
                incoming.Complete();
            }
            catch (Exception e)
            {
                incoming.Complete(e);
            }
        }
    }

    /// <summary>Sends the import request and, right behind it on the same session, the state as a stream.</summary>
    public async Task<ImportResult> ImportStateAsync(string sandbox, Stream archive, CancellationToken cancellationToken = default)
    {
        var operation = $"import state into sandbox {sandbox}";
        var sid = "i" + _fabric.Xmpp.NewId();
        var import = Call<ImportResult>(operation, "import", sandbox, new FabricProtocol.TransferBody(sid, Start: true), cancellationToken, TransferTimeout);
        _ = import.ContinueWith(t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        try
        {
            await InBandBytestream.SendAsync(_fabric.Xmpp, _fabric.FullJid(Name), sid, archive, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (IbbException e)
        {
            // The host's own answer (tar refused the archive, the sandbox is running) says more than the stream's end.
            try
            {
                await import.ConfigureAwait(false);
            }
            catch (RelocationHostException)
            {
                throw;
            }

            throw new RelocationHostException(Name, operation, e.Message, e);
        }

        return await import.ConfigureAwait(false);
    }

    private async Task<T> Call<T>(string operation, string op, string? reference, object? body, CancellationToken cancellationToken, TimeSpan? timeout = null)
    {
        try
        {
            return await _fabric.CallAsync<T>(Name, op, reference, body, cancellationToken, timeout).ConfigureAwait(false);
        }
        catch (FabricCallException e)
        {
            throw new RelocationHostException(Name, operation, e.Message, e)
            {
                Refused = e.Condition is "bad-request" or "item-not-found" or "resource-constraint" or "forbidden" or "not-allowed" or "conflict",
            };
        }
        catch (Exception e) when (e is XmppException or TimeoutException)
        {
            throw new RelocationHostException(Name, operation, e is TimeoutException ? "no answer over the fabric in time" : e.Message, e);
        }
    }
}
