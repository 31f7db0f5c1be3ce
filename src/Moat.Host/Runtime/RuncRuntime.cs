using System.Text.Json;

namespace Moat.Host.Runtime;

/// <summary>
/// runc (or a CLI-compatible runtime such as crun) with its own state root, so that each host agent's containers
/// are its own and a listing never shows another agent's.
/// </summary>
internal sealed class RuncRuntime : IOciRuntime
{
    private readonly string _binary;
    private readonly string _root;

    public RuncRuntime(string root, string binary = "runc")
    {
        _root = root;
        _binary = binary;
        Agent.StateFolder.CreatePrivate(root);
    }

    public string Name => Path.GetFileName(_binary);

    public async Task RunDetachedAsync(string id, string bundle, string consoleLog, CancellationToken cancellationToken = default)
    {
        // The container's init inherits runc's standard streams, so runc is started with them pointing at the
        // console log; a shell does the redirection because .NET's Process cannot hand a child a plain file.
        var runcLog = Path.Combine(bundle, "runc.log");
        File.Delete(runcLog);
        var r = await ProcessRunner.RunAsync("/bin/sh",
            ["-c", "exec \"$@\" </dev/null >>\"$MOAT_CONSOLE\" 2>&1", "sh",
             _binary, "--root", _root, "--log", runcLog, "--log-format", "json", "run", "-d", "-b", bundle, id],
            timeout: TimeSpan.FromSeconds(60), cancellationToken: cancellationToken,
            environment: new Dictionary<string, string> { ["MOAT_CONSOLE"] = consoleLog }).ConfigureAwait(false);
        if (!r.Succeeded)
        {
            throw new MoatHostException($"{Name} could not start sandbox {id}: {LastError(runcLog) ?? TailOf(consoleLog)}");
        }
    }

    public async Task<ContainerState?> StateAsync(string id, CancellationToken cancellationToken = default)
    {
        var r = await Runc(["state", id], cancellationToken).ConfigureAwait(false);
        if (!r.Succeeded)
        {
            if (r.Diagnostic.Contains("does not exist", StringComparison.Ordinal) || r.Diagnostic.Contains("not found", StringComparison.OrdinalIgnoreCase))
            {
                return null;
            }

            throw new ToolFailedException(_binary, ["state", id], r);
        }

        return ParseState(JsonDocument.Parse(r.StandardOutput).RootElement);
    }

    public async Task<IReadOnlyList<ContainerState>> ListAsync(CancellationToken cancellationToken = default)
    {
        var r = await Checked(["list", "--format", "json"], cancellationToken).ConfigureAwait(false);
        var text = r.StandardOutput.Trim();
        if (text.Length == 0 || text == "null")
        {
            return [];
        }

        using var doc = JsonDocument.Parse(text);
        return doc.RootElement.EnumerateArray().Select(ParseState).ToList();
    }

    public async Task KillAsync(string id, string signal, CancellationToken cancellationToken = default)
    {
        var r = await Runc(["kill", id, signal], cancellationToken).ConfigureAwait(false);
        if (!r.Succeeded && !IsGone(r))
        {
            throw new ToolFailedException(_binary, ["kill", id, signal], r);
        }
    }

    public async Task DeleteAsync(string id, CancellationToken cancellationToken = default)
    {
        var r = await Runc(["delete", "--force", id], cancellationToken).ConfigureAwait(false);
        if (!r.Succeeded && !IsGone(r))
        {
            throw new ToolFailedException(_binary, ["delete", id], r);
        }
    }

    public Task PauseAsync(string id, CancellationToken cancellationToken = default) => Checked(["pause", id], cancellationToken);

    public Task ResumeAsync(string id, CancellationToken cancellationToken = default) => Checked(["resume", id], cancellationToken);

    public Task<ProcessResult> ProcessesAsync(string id, CancellationToken cancellationToken = default) => Runc(["ps", id], cancellationToken);

    public async Task<ExecResult> ExecAsync(string id, IReadOnlyList<string> command, IReadOnlyList<string> env, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var r = await ProcessRunner.RunAsync(_binary, ExecArguments(id, ExecWrapper.Wrap(command), env), timeout: timeout, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (ExecWrapper.InitLacksExecMode(r))
        {
            r = await ProcessRunner.RunAsync(_binary, ExecArguments(id, command, env), timeout: timeout, cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        return new ExecResult(r.ExitCode, r.StandardOutput, r.StandardError);
    }

    private List<string> ExecArguments(string id, IEnumerable<string> command, IReadOnlyList<string> env)
    {
        var args = new List<string> { "--root", _root, "exec" };
        foreach (var e in env)
        {
            args.Add("--env");
            args.Add(e);
        }

        args.Add(id);
        args.AddRange(command);
        return args;
    }

    public IReadOnlyList<string> InteractiveExecCommand(string id, IReadOnlyList<string> command, bool tty)
    {
        var args = new List<string> { _binary, "--root", _root, "exec" };
        if (tty)
        {
            args.Add("--tty");
        }

        args.Add(id);
        args.AddRange(command);
        return args;
    }

    private static ContainerState ParseState(JsonElement e) =>
        new(e.GetProperty("id").GetString()!, e.GetProperty("status").GetString()!, e.TryGetProperty("pid", out var p) ? p.GetInt32() : 0);

    private static bool IsGone(ProcessResult r) =>
        r.Diagnostic.Contains("does not exist", StringComparison.Ordinal)
        || r.Diagnostic.Contains("not found", StringComparison.OrdinalIgnoreCase)
        || r.Diagnostic.Contains("container not running", StringComparison.Ordinal)
        || r.Diagnostic.Contains("process already finished", StringComparison.Ordinal);

    private Task<ProcessResult> Runc(IReadOnlyList<string> args, CancellationToken ct) =>
        ProcessRunner.RunAsync(_binary, ["--root", _root, .. args], timeout: TimeSpan.FromSeconds(60), cancellationToken: ct);

    private async Task<ProcessResult> Checked(IReadOnlyList<string> args, CancellationToken ct)
    {
        var r = await Runc(args, ct).ConfigureAwait(false);
        return r.Succeeded ? r : throw new ToolFailedException(_binary, args, r);
    }

    /// <summary>The last error runc logged (its JSON log), which names the real cause better than its exit code.</summary>
    private static string? LastError(string runcLog)
    {
        if (!File.Exists(runcLog))
        {
            return null;
        }

        string? last = null;
        foreach (var line in File.ReadLines(runcLog))
        {
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.TryGetProperty("level", out var l) && l.GetString() is "error" or "fatal")
                {
                    last = doc.RootElement.GetProperty("msg").GetString();
                }
            }
            catch (JsonException)
            {
                last = line;
            }
        }

        return last;
    }

    private static string TailOf(string file)
    {
        if (!File.Exists(file))
        {
            return "no output";
        }

        var text = File.ReadAllText(file).Trim();
        return text.Length > 500 ? text[^500..] : text;
    }
}
