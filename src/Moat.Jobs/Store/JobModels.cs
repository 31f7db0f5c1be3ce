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

    /// <summary>Longest command (a path or program name), in characters.</summary>
    public const int MaxCommandChars = 4096;

    /// <summary>Longest single argument: Linux's own limit for one argument string (MAX_ARG_STRLEN, 128 KiB).</summary>
    public const int MaxArgumentChars = 128 * 1024;

    /// <summary>Most characters in all arguments together.</summary>
    public const int MaxArgumentsChars = 1024 * 1024;

    /// <summary>Most labels, and the longest label.</summary>
    public const int MaxLabels = 64;

    public const int MaxLabelChars = 256;

    /// <summary>Returns one sentence naming what is wrong, or null when the spec is acceptable.</summary>
    public string? Validate()
    {
        if ((TextProblem("The owner", Owner, 3071) ?? TextProblem("The command", Command, MaxCommandChars)) is { } text)
        {
            return text;
        }

        long total = 0;
        for (int i = 0; i < Arguments.Count; i++)
        {
            if (TextProblem($"Argument {i + 1}", Arguments[i], MaxArgumentChars) is { } problem)
            {
                return problem;
            }

            total += Arguments[i].Length;
        }

        if (total > MaxArgumentsChars || Arguments.Count > 4096)
        {
            return $"The arguments hold {Arguments.Count} strings and {total} characters: at most 4096 arguments of {MaxArgumentsChars} characters in all are accepted.";
        }

        if (Labels.Count > MaxLabels)
        {
            return $"The job names {Labels.Count} labels: at most {MaxLabels} are accepted.";
        }

        foreach (string label in Labels)
        {
            if (TextProblem($"The label '{Shorten(label)}'", label, MaxLabelChars) is { } problem)
            {
                return problem;
            }

            if (label.Length == 0 || label.Any(c => c == ',' || char.IsWhiteSpace(c)))
            {
                return $"The label '{Shorten(label)}' is empty or holds a comma or a space: a label is one word such as gpu or x86.";
            }
        }

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

        return MemoryMb < 0 || Cpus < 0 || double.IsNaN(Cpus) || double.IsInfinity(Cpus) ? "--memory and --cpus must be finite and not negative." : null;
    }

    /// <summary>
    /// Text that no program can receive (a NUL ends a C string), that is not Unicode (a lone surrogate cannot be
    /// written as UTF-8), or that is too long, is refused rather than stored differently from what was asked.
    /// </summary>
    private static string? TextProblem(string what, string value, int max)
    {
        if (value.Length > max)
        {
            return $"{what} is {value.Length} characters long: at most {max} are accepted.";
        }

        if (value.Contains('\0', StringComparison.Ordinal))
        {
            return $"{what} holds a NUL character, which no program name or argument can carry: remove it.";
        }

        for (int i = 0; i < value.Length; i++)
        {
            if (char.IsHighSurrogate(value[i]) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(value[i]))
            {
                return $"{what} holds an unpaired UTF-16 surrogate at position {i}, which is not Unicode text: send valid UTF-8.";
            }
        }

        return null;
    }

    private static string Shorten(string value) => value.Length > 40 ? value[..40] + "…" : value;
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
