namespace Moat.Jobs.Manager;

/// <summary>What a manager refused from the fabric since it started; shown by the 'workers' command.</summary>
public sealed class JobManagerCounters
{
    private long refusedWorkers;
    private long refusedResults;
    private long malformedAnswers;

    /// <summary>Worker announcements from accounts not on the allow-list (each ignored).</summary>
    public long RefusedWorkers => Interlocked.Read(ref refusedWorkers);

    /// <summary>Results refused: for a task not in the batch answered (never dispatched, another worker's, a stale attempt),
    /// a duplicate, an exit code outside 0–255, or output over the limit.</summary>
    public long RefusedResults => Interlocked.Read(ref refusedResults);

    /// <summary>Answers to a batch that could not be read at all (the batch was requeued).</summary>
    public long MalformedAnswers => Interlocked.Read(ref malformedAnswers);

    internal void RefuseWorker() => Interlocked.Increment(ref refusedWorkers);

    internal void RefuseResults(int count) => Interlocked.Add(ref refusedResults, count);

    internal void RefuseAnswer() => Interlocked.Increment(ref malformedAnswers);
}
