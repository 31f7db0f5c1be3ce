using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Moat.Jobs.Manager;
using Moat.Jobs.Store;

namespace Moat.Jobs.Commands;

/// <summary>
/// The people's interface of a manager: parses one line (typed in a chat client or sent by 'moat job') and returns a
/// readable reply, or JSON when the line ends with --json.
/// </summary>
internal sealed class JobCommandProcessor(IJobStore store, JobAuthorization authorization, Func<IReadOnlyList<WorkerInfo>> workers, Action wake,
    Func<JobManagerCounters>? counters = null)
{
    public const string Help = """
        Commands:
          submit [--tasks N] [--label L]... [--memory MB] [--cpus C] [--priority P] [--retries R] [--redundancy K] [--timeout SECONDS] -- COMMAND ARGS...   ({task} in ARGS becomes the task index)
          status [JOB]        progress of one job, or of your recent jobs
          cancel JOB          stop a job's queued and running tasks
          logs JOB [TASK]     exit codes and output
          workers             connected workers and their load
          queue               tasks waiting and running
          help                this text
        Add --json to any command for machine-readable output.
        """;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    public async Task<string> ExecuteAsync(string user, string line, CancellationToken cancellationToken = default) =>
        (await RunAsync(user, line, cancellationToken).ConfigureAwait(false)).Text;

    /// <summary>Like <see cref="ExecuteAsync"/> but says whether the command succeeded (for the CLI's exit code).</summary>
    public async Task<CommandReply> RunAsync(string user, string line, CancellationToken cancellationToken = default)
    {
        var tokens = Tokenize(line);
        bool json = tokens.Remove("--json");
        if (tokens.Count == 0)
        {
            return new CommandReply(true, Help);
        }

        string verb = tokens[0].ToLowerInvariant();
        var args = tokens.Skip(1).ToList();
        try
        {
            string text = verb switch
            {
                "help" => Help,
                "submit" => await SubmitAsync(user, args, json, cancellationToken).ConfigureAwait(false),
                "status" => await StatusAsync(user, args, json, cancellationToken).ConfigureAwait(false),
                "cancel" => await CancelAsync(user, args, json, cancellationToken).ConfigureAwait(false),
                "logs" => await LogsAsync(user, args, json, cancellationToken).ConfigureAwait(false),
                "workers" => WorkersText(json),
                "queue" => await QueueAsync(user, json, cancellationToken).ConfigureAwait(false),
                _ => throw new CommandException($"Unknown command '{tokens[0]}'. Valid commands: submit, status, cancel, logs, workers, queue, help."),
            };
            return new CommandReply(true, text);
        }
        catch (CommandException e)
        {
            return new CommandReply(false, json ? JsonSerializer.Serialize(new { error = e.Message }, Json) : e.Message);
        }
    }

    private async Task<string> SubmitAsync(string user, List<string> args, bool json, CancellationToken ct)
    {
        if (!authorization.CanSubmit(user))
        {
            throw new CommandException($"{user} is not allowed to submit jobs; ask an administrator to add you to the submitters.");
        }

        int separator = args.IndexOf("--");
        if (separator < 0 || separator == args.Count - 1)
        {
            throw new CommandException("submit needs the command after '--', e.g. 'submit --tasks 10 -- /bin/echo {task}'.");
        }

        var options = args.Take(separator).ToList();
        var command = args.Skip(separator + 1).ToList();
        var spec = new JobSpec { Owner = user, Command = command[0], Arguments = command.Skip(1).ToArray() };
        var labels = new List<string>();
        for (int i = 0; i < options.Count; i++)
        {
            string name = options[i];
            string value = i + 1 < options.Count ? options[++i] : throw new CommandException($"{name} needs a value.");
            spec = name switch
            {
                "--tasks" => spec with { Tasks = Int(name, value) },
                "--label" => spec,
                "--memory" => spec with { MemoryMb = Int(name, value) },
                "--cpus" => spec with { Cpus = Double(name, value) },
                "--priority" => spec with { Priority = Int(name, value) },
                "--retries" => spec with { MaxRetries = Int(name, value) },
                "--redundancy" => spec with { Redundancy = Int(name, value) },
                "--timeout" => spec with { Timeout = TimeSpan.FromSeconds(Double(name, value)) },
                _ => throw new CommandException($"Unknown submit option '{name}'; valid: --tasks, --label, --memory, --cpus, --priority, --retries, --redundancy, --timeout."),
            };
            if (name == "--label")
            {
                labels.Add(value);
            }
        }

        spec = spec with { Labels = labels };
        string? problem = spec.Validate();
        if (problem is not null)
        {
            throw new CommandException(problem);
        }

        long id = await store.AddJobAsync(spec, ct).ConfigureAwait(false);
        wake();
        return json ? JsonSerializer.Serialize(new { job = id, tasks = spec.Tasks }, Json) : $"Job {id} submitted: {spec.Tasks} tasks of {spec.Command}.";
    }

    private async Task<string> StatusAsync(string user, List<string> args, bool json, CancellationToken ct)
    {
        if (args.Count == 0)
        {
            var list = await store.ListAsync(authorization.IsAdmin(user) ? null : user, 20, ct).ConfigureAwait(false);
            if (json)
            {
                return JsonSerializer.Serialize(list, Json);
            }

            return list.Count == 0 ? "You have no jobs." : string.Join('\n', list.Select(Describe));
        }

        var status = await OwnJobAsync(user, args[0], ct).ConfigureAwait(false);
        return json ? JsonSerializer.Serialize(status, Json) : Describe(status);
    }

    private async Task<string> CancelAsync(string user, List<string> args, bool json, CancellationToken ct)
    {
        var status = await OwnJobAsync(user, args.FirstOrDefault() ?? throw new CommandException("cancel needs a job number, e.g. 'cancel 12'."), ct).ConfigureAwait(false);
        bool cancelled = await store.CancelAsync(status.Id, user, authorization.IsAdmin(user), ct).ConfigureAwait(false);
        return json ? JsonSerializer.Serialize(new { job = status.Id, cancelled }, Json) : cancelled ? $"Job {status.Id} cancelled." : $"Job {status.Id} could not be cancelled.";
    }

    private async Task<string> LogsAsync(string user, List<string> args, bool json, CancellationToken ct)
    {
        var status = await OwnJobAsync(user, args.FirstOrDefault() ?? throw new CommandException("logs needs a job number, e.g. 'logs 12' or 'logs 12 3'."), ct).ConfigureAwait(false);
        int? index = args.Count > 1 ? Int("TASK", args[1]) : null;
        var logs = await store.GetLogsAsync(status.Id, index, ct).ConfigureAwait(false);
        if (json)
        {
            return JsonSerializer.Serialize(logs, Json);
        }

        var text = new StringBuilder();
        foreach (var l in logs.Take(200))
        {
            text.Append(CultureInfo.InvariantCulture, $"task {l.Index}{(status.Redundancy > 1 ? "." + l.Replica : string.Empty)}: {l.State.ToString().ToLowerInvariant()}");
            if (l.ExitCode is int code)
            {
                text.Append(CultureInfo.InvariantCulture, $", exit {code}");
            }

            text.Append(l.Output is { Length: > 0 } output ? ": " + output.TrimEnd() : string.Empty).Append('\n');
        }

        if (logs.Count > 200)
        {
            text.Append(CultureInfo.InvariantCulture, $"… {logs.Count - 200} more; use 'logs {status.Id} TASK' or --json.");
        }

        return text.Length == 0 ? $"Job {status.Id} has no tasks matching." : text.ToString().TrimEnd();
    }

    private string WorkersText(bool json)
    {
        var list = workers();
        if (json)
        {
            return JsonSerializer.Serialize(list, Json);
        }

        string text = list.Count == 0 ? "No workers are connected." :
            $"{list.Count} workers, {list.Sum(w => w.Busy)} of {list.Sum(w => w.Slots)} slots busy:\n" +
            string.Join('\n', list.Take(50).Select(w => $"{w.Jid}: {w.Busy}/{w.Slots} busy{(w.Labels.Count > 0 ? ", labels " + string.Join(',', w.Labels) : string.Empty)}"));
        return counters?.Invoke() is { } c
            ? text + $"\nRefused since start: {c.RefusedWorkers} worker announcements (not allow-listed), {c.RefusedResults} results, {c.MalformedAnswers} unreadable answers."
            : text;
    }

    private async Task<string> QueueAsync(string user, bool json, CancellationToken ct)
    {
        var list = await store.ListAsync(authorization.IsAdmin(user) ? null : user, 1000, ct).ConfigureAwait(false);
        int queued = list.Sum(j => j.Queued), running = list.Sum(j => j.Dispatched);
        return json ? JsonSerializer.Serialize(new { queued, running }, Json) : $"{queued} tasks queued, {running} running.";
    }

    private async Task<JobStatus> OwnJobAsync(string user, string idText, CancellationToken ct)
    {
        if (!long.TryParse(idText, NumberStyles.None, CultureInfo.InvariantCulture, out long id))
        {
            throw new CommandException($"'{idText}' is not a job number; job numbers are digits, as printed by submit.");
        }

        var status = await store.GetStatusAsync(id, ct).ConfigureAwait(false);
        if (status is null || (status.Owner != user && !authorization.IsAdmin(user)))
        {
            throw new CommandException($"There is no job {id} of yours; 'status' lists your jobs.");
        }

        return status;
    }

    private static string Describe(JobStatus s)
    {
        int total = s.Tasks * s.Redundancy;
        string text = $"Job {s.Id} ({s.Command}, {s.Owner}): {s.State}, {s.Done}/{total} done, {s.Dispatched} running, {s.Queued} queued, {s.Failed} failed";
        return s.Redundancy > 1 ? text + $", {s.Mismatches} tasks whose replicas disagree" : text;
    }

    private static int Int(string name, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) ? n : throw new CommandException($"{name} '{value}' is not a whole number.");

    private static double Double(string name, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double n) ? n : throw new CommandException($"{name} '{value}' is not a number.");

    /// <summary>Splits on whitespace, honouring single and double quotes.</summary>
    internal static List<string> Tokenize(string line)
    {
        var tokens = new List<string>();
        var current = new StringBuilder();
        char quote = '\0';
        bool any = false;
        foreach (char c in line)
        {
            if (quote != '\0')
            {
                if (c == quote)
                {
                    quote = '\0';
                }
                else
                {
                    current.Append(c);
                }
            }
            else if (c is '"' or '\'')
            {
                quote = c;
                any = true;
            }
            else if (char.IsWhiteSpace(c))
            {
                if (any)
                {
                    tokens.Add(current.ToString());
                    current.Clear();
                    any = false;
                }
            }
            else
            {
                current.Append(c);
                any = true;
            }
        }

        if (any)
        {
            tokens.Add(current.ToString());
        }

        return tokens;
    }

    /// <summary>The reply text and whether the command succeeded.</summary>
    internal sealed record CommandReply(bool Ok, string Text);

    private sealed class CommandException(string message) : MoatException(ErrorKind.Invalid, message);
}
