namespace Moat.Jobs.Store;

/// <summary>What a user asks for: a command run once per task index ({task} in arguments is replaced by the index).</summary>
public sealed record JobSpec
{
    public required string Owner { get; init; }

    public required string Command { get; init; }

    public IReadOnlyList<string> Arguments { get; init; } = [];

    public int Tasks { get; init; } = 1;

    /// <summary>Labels a worker must advertise to run the job.</summary>
    public IReadOnlyList<string> Labels { get; init; } = [];

    public int MemoryMb { get; init; }

    public double Cpus { get; init; }

    public int Priority { get; init; }

    /// <summary>How many times a task that exits non-zero (or times out) is run again.</summary>
    public int MaxRetries { get; init; }

    /// <summary>Run each task on this many different workers and compare their outputs.</summary>
    public int Redundancy { get; init; } = 1;

    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Largest job accepted, so one submission cannot fill the store.</summary>
    public const int MaxTasks = 1_000_000;

    /// <summary>Returns one sentence naming what is wrong, or null when the spec is acceptable.</summary>
    public string? Validate()
    {
        if (string.IsNullOrWhiteSpace(Command))
        {
            return "The command is empty: give the program to run, e.g. 'submit --tasks 10 -- /bin/echo {task}'.";
        }

        if (Tasks < 1 || Tasks > MaxTasks)
        {
            return $"--tasks {Tasks} is out of range: a job has between 1 and {MaxTasks} tasks.";
        }

        if (Redundancy < 1 || Redundancy > 16)
        {
            return $"--redundancy {Redundancy} is out of range: use 1 (no comparison) to 16.";
        }

        if (MaxRetries < 0 || MaxRetries > 100)
        {
            return $"--retries {MaxRetries} is out of range: use 0 to 100.";
        }

        if (Timeout <= TimeSpan.Zero || Timeout > TimeSpan.FromDays(7))
        {
            return $"--timeout {Timeout.TotalSeconds} s is out of range: use more than 0 and at most 7 days.";
        }

        return MemoryMb < 0 || Cpus < 0 ? "--memory and --cpus cannot be negative." : null;
    }
}

/// <summary>Lifecycle of one task replica.</summary>
public enum TaskState
{
    Queued,
    Dispatched,
    Done,
    Failed,
    Cancelled,
}

/// <summary>What a worker offers: labels, free capacity, memory and CPUs.</summary>
public sealed record WorkerOffer(string Jid, IReadOnlyList<string> Labels, int Slots, int MemoryMb, double Cpus);

/// <summary>One task replica handed to one worker for one attempt.</summary>
public sealed record TaskAssignment(long TaskId, long JobId, int Index, int Attempt, string Command, IReadOnlyList<string> Arguments, TimeSpan Timeout);

/// <summary>What a worker reports for one attempt.</summary>
public sealed record TaskResult(long TaskId, int Attempt, int ExitCode, string Output, bool TimedOut = false);

/// <summary>Progress of one job.</summary>
public sealed record JobStatus(
    long Id, string Owner, string Command, int Tasks, int Redundancy, string State,
    int Queued, int Dispatched, int Done, int Failed, int Cancelled, int Mismatches, DateTimeOffset Created);

/// <summary>One task replica's outcome for 'logs'.</summary>
public sealed record TaskLog(int Index, int Replica, TaskState State, int Attempt, string? Worker, int? ExitCode, string? Output);
