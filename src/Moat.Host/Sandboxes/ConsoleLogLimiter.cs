using System.Globalization;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Moat.Host.Agent;

namespace Moat.Host.Sandboxes;

/// <summary>
/// Keeps each sandbox's console log under <see cref="HostAgentOptions.ConsoleLogBytes"/>: a log past it is cut back to
/// its last part behind a one-line marker. The runtime's streams append (O_APPEND) to the file, so the cut takes
/// effect at once and nothing of the sandbox's own state is touched. Between two looks a log can grow only as far as
/// its sandbox's disk, which bounds it hard.
/// </summary>
internal sealed partial class ConsoleLogLimiter(SandboxService sandboxes, HostAgentOptions options, TimeProvider time, ILogger<ConsoleLogLimiter> log) : BackgroundService
{
    /// <summary>The most of a log's tail kept behind the marker.</summary>
    private const int MaxKeptBytes = 1024 * 1024;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.ConsoleLogInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                // Ids alone: the sweep looks at every sandbox's log each second, and decoding every row to find its
                // folder would cost the agent more with every sandbox on the host (issue 19).
                foreach (var id in sandboxes.Store.ListIds())
                {
                    try
                    {
                        if (Trim(sandboxes.ConsoleLogOf(id), options.ConsoleLogBytes, time.GetUtcNow()) is { } dropped)
                        {
                            LogTrimmed(log, id, dropped);
                        }
                    }
                    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                    {
                        // The sandbox went away between the listing and the look (its disk unmounted, its folder removed).
                        LogSkipped(log, id, e.Message);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The agent stops.
        }
    }

    /// <summary>
    /// Cuts <paramref name="path"/> back when it is longer than <paramref name="cap"/>: a marker line, then the last
    /// part (half the cap, at most 1 MiB). Returns the number of bytes dropped, or null when the log was within its cap
    /// or does not exist.
    /// </summary>
    internal static long? Trim(string path, long cap, DateTimeOffset now)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        byte[] tail;
        long length;
        using (var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite))
        {
            length = file.Length;
            if (length <= cap)
            {
                return null;
            }

            tail = new byte[(int)Math.Min(cap / 2, MaxKeptBytes)];
            while (true)
            {
                file.Seek(length - tail.Length, SeekOrigin.Begin);
                file.ReadExactly(tail);
                // The sandbox may have written while the tail was read: take the newer tail rather than cut its last
                // lines away (a log that ends mid-way would lose exactly what came last). The window left is the one
                // between this look and the cut; FALLOC_FL_COLLAPSE_RANGE would close it.
                var current = file.Length;
                if (current == length)
                {
                    break;
                }

                length = current;
            }

            file.SetLength(0);
        }

        // Appended (O_APPEND), as the sandbox's writes are: what the sandbox wrote since the cut lands before the marker
        // rather than being overwritten.
        var marker = System.Text.Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"[moat: console log passed its cap of {cap} bytes at {now:O}; {length - tail.Length} earlier bytes dropped]\n"));
        using (var append = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite))
        {
            append.Write(marker);
            append.Write(tail);
        }

        return length - tail.Length;
    }

    [LoggerMessage(EventId = 110, Level = LogLevel.Information, Message = "Sandbox {Id}: console log past its cap; {Dropped} bytes dropped")]
    private static partial void LogTrimmed(ILogger logger, string id, long dropped);

    [LoggerMessage(EventId = 111, Level = LogLevel.Debug, Message = "Sandbox {Id}: console log not measured: {Reason}")]
    private static partial void LogSkipped(ILogger logger, string id, string reason);
}
