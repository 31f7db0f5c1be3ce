using System.Net.Sockets;
using Moat.Host.Api;
using Moat.Host.Client;
using Moat.Host.Sandboxes;

namespace Moat.Mtd.Relocation;

/// <summary><see cref="IRelocationHost"/> over a host agent's local API (its Unix socket).</summary>
public sealed class AgentRelocationHost : IRelocationHost, IDisposable
{
    private readonly HostClient _client;

    /// <param name="name">The host's name in reports.</param>
    /// <param name="socketPath">The agent's socket (STATE_DIR/agent.sock).</param>
    public AgentRelocationHost(string name, string socketPath)
    {
        Name = name;
        SocketPath = socketPath;
        _client = new HostClient(socketPath);
    }

    public string Name { get; }

    public string SocketPath { get; }

    public Task<HostStatus> StatusAsync(CancellationToken cancellationToken = default) =>
        Call("report its status", () => _client.StatusAsync(cancellationToken));

    public Task<IReadOnlyList<Sandbox>> ListAsync(CancellationToken cancellationToken = default) =>
        Call<IReadOnlyList<Sandbox>>("list its sandboxes", async () => await _client.ListAsync(cancellationToken).ConfigureAwait(false));

    public Task<SandboxDetails> InspectAsync(string sandbox, CancellationToken cancellationToken = default) =>
        Call($"inspect sandbox {sandbox}", () => _client.InspectAsync(sandbox, cancellationToken));

    public Task<CheckpointSupport> CheckpointSupportAsync(CancellationToken cancellationToken = default) =>
        Call("say what it can checkpoint", () => _client.CheckpointSupportAsync(cancellationToken));

    public Task<Sandbox> ReserveAsync(SandboxManifest manifest, CancellationToken cancellationToken = default) =>
        Call($"reserve a copy of sandbox {manifest.Spec.Name ?? manifest.SourceId}", () => _client.ReserveAsync(manifest, cancellationToken));

    public Task<Sandbox> CheckpointAsync(string sandbox, CancellationToken cancellationToken = default) =>
        Call($"checkpoint sandbox {sandbox}", () => _client.CheckpointAsync(sandbox, cancellationToken));

    public Task<Sandbox> StopAsync(string sandbox, CancellationToken cancellationToken = default) =>
        Call($"stop sandbox {sandbox}", () => _client.StopAsync(sandbox, graceSeconds: 5, cancellationToken));

    public Task<Sandbox> StartAsync(string sandbox, CancellationToken cancellationToken = default) =>
        Call($"start sandbox {sandbox}", () => _client.StartAsync(sandbox, cancellationToken));

    public Task DestroyAsync(string sandbox, CancellationToken cancellationToken = default) =>
        Call($"destroy sandbox {sandbox}", async () =>
        {
            await _client.DestroyAsync(sandbox, cancellationToken).ConfigureAwait(false);
            return true;
        });

    public Task<Stream> ExportStateAsync(string sandbox, CancellationToken cancellationToken = default) =>
        Call($"export the state of sandbox {sandbox}", () => _client.ExportStateAsync(sandbox, cancellationToken));

    public Task<ImportResult> ImportStateAsync(string sandbox, Stream archive, CancellationToken cancellationToken = default) =>
        Call($"import state into sandbox {sandbox}", () => _client.ImportStateAsync(sandbox, archive, start: true, cancellationToken));

    public Task<Moat.Host.Watch.AlertsReport> AlertsAsync(int limit, CancellationToken cancellationToken = default) =>
        Call("report its alerts", () => _client.AlertsAsync(limit: limit, ct: cancellationToken));

    public void Dispose() => _client.Dispose();

    private async Task<T> Call<T>(string operation, Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (HostApiException e)
        {
            throw new RelocationHostException(Name, operation, e.Message, e) { Refused = e.Status is >= 400 and < 500 };
        }
        catch (HostUnavailableException e)
        {
            throw new RelocationHostException(Name, operation, $"no agent answers on {SocketPath}", e);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or SocketException)
        {
            throw new RelocationHostException(Name, operation, e.Message, e);
        }
    }
}
