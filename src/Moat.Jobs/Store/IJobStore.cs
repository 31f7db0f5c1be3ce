namespace Moat.Jobs.Store;

/// <summary>
/// Where jobs and tasks persist. Several managers may share one store: <see cref="ClaimAsync"/> must hand each queued
/// task to exactly one caller, and <see cref="CompleteAsync"/> must record a result only for the current attempt.
/// </summary>
public interface IJobStore : IAsyncDisposable
{
    Task<long> AddJobAsync(JobSpec spec, CancellationToken cancellationToken = default);

    /// <summary>Claims up to the worker's free slots of queued tasks it can run, highest priority first.</summary>
    Task<IReadOnlyList<TaskAssignment>> ClaimAsync(string managerId, WorkerOffer worker, CancellationToken cancellationToken = default);

    /// <summary>
    /// Records one worker's results; returns how many were accepted. Only a result for a task that worker holds now, at
    /// its current attempt, counts: stale attempts, duplicates and results for another worker's tasks are ignored.
    /// </summary>
    Task<int> CompleteAsync(string workerJid, IReadOnlyList<TaskResult> results, CancellationToken cancellationToken = default);

    /// <summary>Puts one dispatched attempt back in the queue (the worker could not be reached).</summary>
    Task<bool> RequeueAsync(long taskId, int attempt, CancellationToken cancellationToken = default);

    /// <summary>Puts every task dispatched to a worker back in the queue (its presence went unavailable).</summary>
    Task<int> RequeueWorkerAsync(string workerJid, CancellationToken cancellationToken = default);

    /// <summary>Puts every task a manager had dispatched back in the queue (it restarted and lost track of them).</summary>
    Task<int> RequeueManagerAsync(string managerId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Renews this manager's lease until now + <paramref name="lease"/>, and puts back in the queue every task held by a
    /// manager whose lease ran out (it died or lost the store); returns how many tasks were taken back.
    /// </summary>
    Task<int> RenewLeaseAsync(string managerId, TimeSpan lease, CancellationToken cancellationToken = default);

    /// <summary>Cancels a job; false when it does not exist or the user may not cancel it.</summary>
    Task<bool> CancelAsync(long jobId, string user, bool isAdmin, CancellationToken cancellationToken = default);

    Task<JobStatus?> GetStatusAsync(long jobId, CancellationToken cancellationToken = default);

    /// <summary>Jobs of one owner (all owners when null), newest first.</summary>
    Task<IReadOnlyList<JobStatus>> ListAsync(string? owner, int limit, CancellationToken cancellationToken = default);

    Task<IReadOnlyList<TaskLog>> GetLogsAsync(long jobId, int? index, CancellationToken cancellationToken = default);

    /// <summary>Number of results recorded for a job (exactly one per task replica once it is finished).</summary>
    Task<int> CountResultsAsync(long jobId, CancellationToken cancellationToken = default);
}
