using System.Net;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Moat.Host.Metrics;

/// <summary>
/// Serves <c>/metrics</c> (Prometheus text) on its own TCP listener, apart from the agent's root-only API socket: the
/// listener serves nothing else, so opening it to a scraper opens no sandbox operation.
/// </summary>
public sealed partial class AgentMetricsServer(IPEndPoint endpoint, AgentMetrics metrics, ILogger<AgentMetricsServer> log) : IHostedService
{
    private IMetricServer? server;

    /// <summary>Parses --metrics ADDR:PORT; one sentence when it is not that.</summary>
    public static IPEndPoint Parse(string text) =>
        IPEndPoint.TryParse(text, out var e) && e.Port != 0 && text.Contains(':', StringComparison.Ordinal)
            ? e
            : throw new InvalidRequestException($"--metrics '{text}' is not ADDR:PORT with a port from 1 to 65535 (for example 127.0.0.1:9464), or 'off'.");

    public Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            server = new KestrelMetricServer(endpoint.Address.ToString(), endpoint.Port, "/metrics", metrics.Registry).Start();
            LogListening(log, endpoint.ToString());
        }
        catch (IOException e)
        {
            // Metrics are not worth the agent: a second agent on the machine (or anything else on the port) leaves this
            // one without them, said once, loudly, with the fix.
            LogBindFailed(log, endpoint.ToString(), e.Message);
        }

        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (server is not null)
        {
            await server.StopAsync().ConfigureAwait(false);
            server.Dispose();
        }
    }

    [LoggerMessage(EventId = 901, Level = LogLevel.Warning, Message = "No metrics: cannot listen on {Endpoint} ({Reason}); give another with --metrics ADDR:PORT, or --metrics off")]
    private static partial void LogBindFailed(ILogger logger, string endpoint, string reason);

    [LoggerMessage(EventId = 900, Level = LogLevel.Information, Message = "Metrics for Prometheus on http://{Endpoint}/metrics")]
    private static partial void LogListening(ILogger logger, string endpoint);
}
