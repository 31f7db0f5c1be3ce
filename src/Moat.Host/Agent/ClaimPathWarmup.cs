using System.Text.Json;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Moat.Host.Api;
using Moat.Host.Client;
using Moat.Host.Sandboxes;

namespace Moat.Host.Agent;

/// <summary>
/// Makes the agent's first claim as fast as the ones after it. Once the socket accepts and before the agent is started
/// (so before its "ready" line), one request of each shape a claim takes goes through the real socket (Kestrel's first
/// connection, routing, the endpoint filter, binding a <see cref="SandboxSpec"/>, a problem answer), and the claim's
/// answer type is serialised once with the API's own options (System.Text.Json builds a type's metadata on first use,
/// ReadyToRun or not). Nothing is claimed or changed: the claim it sends names no image and is refused before the pool
/// is touched. Bounded by <see cref="Limit"/>; a failure costs only speed and is logged.
/// </summary>
internal sealed partial class ClaimPathWarmup(HostAgentOptions options, IOptions<JsonOptions> json, ILogger<ClaimPathWarmup> logger) : IHostedLifecycleService
{
    public static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    public async Task StartedAsync(CancellationToken cancellationToken)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(Limit);
        try
        {
            var sample = new Sandbox
            {
                Id = "000000000000",
                Spec = SandboxSpec.Default,
                ImageDigest = "",
                State = SandboxState.Running,
                CreatedAt = DateTimeOffset.UnixEpoch,
            };
            _ = JsonSerializer.Serialize(new ClaimResponse(sample, true, 0), json.Value.SerializerOptions);

            using var client = new HostClient(options.SocketPath);
            _ = await client.ListAsync(bounded.Token).ConfigureAwait(false);
            try
            {
                _ = await client.ClaimAsync(SandboxSpec.Default with { Image = "" }, bounded.Token).ConfigureAwait(false);
            }
            catch (HostApiException e) when (e.Status == 400)
            {
                // The refusal this warm-up asks for: an empty image is invalid before anything is claimed.
            }

            LogWarmed(logger);
        }
        catch (Exception e) when (e is HostApiException or HttpRequestException or IOException or JsonException
            || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            LogWarmupFailed(logger, e.Message);
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 150, Level = LogLevel.Debug, Message = "Claim path warmed (API socket, spec binding, answer serialisation)")]
    private static partial void LogWarmed(ILogger logger);

    [LoggerMessage(EventId = 151, Level = LogLevel.Warning, Message = "Claim path warm-up failed (the first claim will be slower): {Reason}")]
    private static partial void LogWarmupFailed(ILogger logger, string reason);
}
