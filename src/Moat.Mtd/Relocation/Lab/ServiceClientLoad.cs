using System.Diagnostics;

namespace Moat.Mtd.Relocation.Lab;

/// <summary>What a <see cref="ServiceClientLoad"/> saw.</summary>
/// <param name="Served">Requests answered with the expected body.</param>
/// <param name="Lost">Requests given up after retrying for the give-up time.</param>
/// <param name="Retries">Failed attempts that were retried (each relocation costs a few).</param>
/// <param name="Wrong">Answers with an unexpected body (another service behind the address).</param>
/// <param name="GapsMs">Time between consecutive answers, ms, in order.</param>
public sealed record ServiceClientReport(long Served, long Lost, long Retries, long Wrong, IReadOnlyList<double> GapsMs)
{
    /// <summary>The <paramref name="n"/> longest gaps between answers, shortest first (one per relocation: its downtime as the client saw it).</summary>
    public IReadOnlyList<double> LongestGaps(int n) => GapsMs.OrderDescending().Take(n).Order().ToList();
}

/// <summary>
/// A client that keeps asking a service address for one URL, back to back, as a user would during relocations: a
/// failed attempt is retried 20 ms later until it succeeds or <c>giveUpAfter</c> passes (then it counts as lost).
/// </summary>
public sealed class ServiceClientLoad
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task<ServiceClientReport> _run;

    private ServiceClientLoad(HttpClient http, Uri url, string? expected, TimeSpan giveUpAfter)
    {
        _run = Task.Run(() => RunAsync(http, url, expected, giveUpAfter, _stop.Token));
    }

    /// <summary>Starts asking <paramref name="url"/>; <paramref name="expected"/>, when given, is the body every answer must have.</summary>
    public static ServiceClientLoad Start(HttpClient http, Uri url, string? expected = null, TimeSpan? giveUpAfter = null) =>
        new(http, url, expected, giveUpAfter ?? TimeSpan.FromSeconds(30));

    /// <summary>Stops after the request in flight and returns what was seen.</summary>
    public async Task<ServiceClientReport> StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            return await _run.ConfigureAwait(false);
        }
        finally
        {
            _stop.Dispose();
        }
    }

    private static async Task<ServiceClientReport> RunAsync(HttpClient http, Uri url, string? expected, TimeSpan giveUpAfter, CancellationToken stop)
    {
        var gaps = new List<double>();
        long served = 0, lost = 0, retries = 0, wrong = 0;
        var last = Stopwatch.StartNew();
        while (!stop.IsCancellationRequested)
        {
            var attempt = Stopwatch.StartNew();
            while (true)
            {
                try
                {
                    var body = await http.GetStringAsync(url, CancellationToken.None).ConfigureAwait(false);
                    if (expected is not null && body != expected)
                    {
                        wrong++;
                    }

                    served++;
                    gaps.Add(last.Elapsed.TotalMilliseconds);
                    last.Restart();
                    break;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    retries++;
                    if (attempt.Elapsed > giveUpAfter)
                    {
                        lost++;
                        break;
                    }

                    await Task.Delay(20, CancellationToken.None).ConfigureAwait(false);
                }
            }
        }

        return new ServiceClientReport(served, lost, retries, wrong, gaps);
    }
}
