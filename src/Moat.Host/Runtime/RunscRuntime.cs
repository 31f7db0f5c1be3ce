using System.Text.Json;

namespace Moat.Host.Runtime;

/// <summary>
/// gVisor's runsc as an OCI runtime: the sandbox runs on gVisor's user-space kernel (the Sentry) under the ptrace
/// platform, with gVisor's own network stack (netstack) owning the sandbox's veth end.
/// </summary>
/// <remarks>
/// Two facts of runsc 2022-12 on this kernel shape how it is driven:
/// <list type="bullet">
/// <item>runsc decides it is in the host's root network namespace when /proc/sys/net/core/rmem_default exists, and
/// refuses to take over the interfaces then; since Linux 6.x that file exists in every namespace. So the start runs
/// in a private mount namespace whose /proc/sys/net/core (as seen from the sandbox's netns) is an empty tmpfs.</item>
/// <item>runsc reaches a running sandbox through an abstract Unix socket, and abstract sockets belong to a network
/// namespace: every command for a sandbox runs inside that sandbox's namespace, or runsc reports it "stopped".</item>
/// </list>
/// netstack copies the interface's address and routes when the sandbox starts and removes the address from the
/// kernel's interface; an address given later is not seen, so gvisor sandboxes are addressed before they start.
/// </remarks>
internal sealed class RunscRuntime : IOciRuntime, ICheckpointingRuntime
{
    private const string HideNetCore =
        "mount -t tmpfs -o size=4k,mode=0555 moat-netcore /proc/sys/net/core && exec \"$@\" </dev/null >>\"$MOAT_CONSOLE\" 2>&1";

    private readonly string _binary;
    private readonly string _root;
    private readonly string _platform;
    private readonly Func<string, string?> _netnsOf;
    private readonly string? _podInitConfig;
    private readonly bool _hostNetwork;

    /// <param name="netnsOf">Path of the network namespace of a container id (e.g. /run/netns/moat-ID).</param>
    /// <param name="podInitConfig">runsc's --pod-init-config (the exec trace session), used for a sandbox's start when
    /// the file exists: the watchers write it while they listen for gVisor's trace points.</param>
    /// <param name="hostNetwork">runsc --network=host: the sandbox's sockets are the kernel's, in the namespace runsc
    /// starts in (its own netns here), so an address given after the start is seen (the honeyfarm's late binding);
    /// the default, gVisor's netstack, copies the addresses once at start.</param>
    public RunscRuntime(string root, Func<string, string?> netnsOf, string binary = "runsc", string platform = "ptrace", string? podInitConfig = null, bool hostNetwork = false)
    {
        _hostNetwork = hostNetwork;
        _root = root;
        _binary = binary;
        _platform = platform;
        _netnsOf = netnsOf;
        _podInitConfig = podInitConfig;
        Agent.StateFolder.CreatePrivate(root);
    }

    /// <summary>
    /// The container id named by a host process that is `runsc ... run ... ID` (the process a sandbox's trace stream
    /// comes from: the sentry inherits its connection), or null for any other process.
    /// </summary>
    public static string? RunIdOf(int pid, string binary = "runsc")
    {
        string[] argv;
        try
        {
            argv = File.ReadAllText($"/proc/{pid}/cmdline").TrimEnd('\0').Split('\0');
        }
        catch (IOException)
        {
            return null;
        }

        return argv.Length >= 3 && Path.GetFileName(argv[0]) == Path.GetFileName(binary) && argv.Contains("run") ? argv[^1] : null;
    }

    /// <summary>The file name the watchers write runsc's trace session to, in the agent's state folder.</summary>
    public const string PodInitConfigFile = "runsc-trace.json";

    public string Name => Path.GetFileName(_binary);

    /// <summary>Checks that runsc runs here; returns its version, or null with the reason it cannot.</summary>
    public static async Task<(string? Version, string? Reason)> ProbeAsync(string binary, CancellationToken cancellationToken = default)
    {
        try
        {
            var r = await ProcessRunner.RunAsync(binary, ["--version"], timeout: TimeSpan.FromSeconds(10), cancellationToken: cancellationToken).ConfigureAwait(false);
            if (!r.Succeeded)
            {
                return (null, $"'{binary} --version' failed: {r.Diagnostic}");
            }

            return (r.StandardOutput.Split('\n')[0].Trim(), null);
        }
        catch (ToolMissingException)
        {
            return (null, $"'{binary}' is not installed (Debian package runsc; scripts/setup installs it)");
        }
    }

    public Task RunDetachedAsync(string id, string bundle, string consoleLog, CancellationToken cancellationToken = default) =>
        StartAsync(id, bundle, consoleLog, ["run", "--detach", "--bundle", bundle, id], "start", cancellationToken);

    public Task RestoreDetachedAsync(string id, string bundle, string imageDir, string consoleLog, CancellationToken cancellationToken = default) =>
        StartAsync(id, bundle, consoleLog, ["restore", "--image-path", imageDir, "--detach", "--bundle", bundle, id], "restore", cancellationToken);

    public async Task CheckpointAsync(string id, string imageDir, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(imageDir);
        var r = await Runsc(id, ["checkpoint", "--image-path", imageDir, id], cancellationToken).ConfigureAwait(false);
        if (!r.Succeeded)
        {
            throw new MoatHostException($"{Name} could not checkpoint sandbox {id}: {CheckpointFailure(r.Diagnostic)}");
        }
    }

    /// <summary>Runs `runsc run` or `runsc restore` for a sandbox: inside its network namespace, in a private mount
    /// namespace that hides /proc/sys/net/core (see the remarks above), the sentry's output to the console log.</summary>
    private async Task StartAsync(string id, string bundle, string consoleLog, IReadOnlyList<string> verb, string what, CancellationToken cancellationToken)
    {
        var netns = _netnsOf(id) is { } p && File.Exists(p) ? p
            : throw new MoatHostException($"gvisor sandbox {id} has no network namespace to {what} in.");
        var log = Path.Combine(bundle, "runsc.log");
        File.Delete(log);
        string[] trace = _podInitConfig is { } config && File.Exists(config) ? ["--pod-init-config", config] : [];
        // An operator chasing a sandbox that dies can have gVisor's own logs (one file per runsc process) written.
        string[] debug = Environment.GetEnvironmentVariable("MOAT_RUNSC_DEBUG_DIR") is { Length: > 0 } dir ? ["--debug", "--debug-log=" + dir.TrimEnd('/') + "/"] : [];
        var r = await ProcessRunner.RunAsync("unshare",
            ["-m", "--propagation", "private", "nsenter", "--net=" + netns, "/bin/sh", "-c", HideNetCore, "sh",
             _binary, "--root", _root, "--platform", _platform, "--log", log, "--log-format", "json", .. trace,
             .. (_hostNetwork ? (string[])["--network=host"] : []), .. debug, .. verb],
            timeout: TimeSpan.FromSeconds(60), cancellationToken: cancellationToken,
            environment: new Dictionary<string, string> { ["MOAT_CONSOLE"] = consoleLog }).ConfigureAwait(false);
        if (!r.Succeeded)
        {
            throw new MoatHostException($"{Name} could not {what} sandbox {id}: {LastError(log) ?? TailOf(consoleLog)}");
        }
    }

    public async Task<ContainerState?> StateAsync(string id, CancellationToken cancellationToken = default)
    {
        var r = await Runsc(id, ["state", id], cancellationToken).ConfigureAwait(false);
        if (!r.Succeeded)
        {
            if (IsGone(r))
            {
                return null;
            }

            throw new ToolFailedException(_binary, ["state", id], r);
        }

        using var doc = JsonDocument.Parse(r.StandardOutput);
        return ParseState(doc.RootElement);
    }

    public async Task<IReadOnlyList<ContainerState>> ListAsync(CancellationToken cancellationToken = default)
    {
        // Listed from outside every sandbox's namespace, runsc cannot reach them and calls each "stopped"; the
        // listing gives the ids, and each state is then asked from inside its own namespace.
        var r = await ProcessRunner.RunAsync(_binary, ["--root", _root, "list", "--quiet"], timeout: TimeSpan.FromSeconds(60), cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!r.Succeeded)
        {
            throw new ToolFailedException(_binary, ["list"], r);
        }

        var list = new List<ContainerState>();
        foreach (var id in r.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            list.Add(await StateAsync(id, cancellationToken).ConfigureAwait(false) ?? new ContainerState(id, "stopped", 0));
        }

        return list;
    }

    public async Task KillAsync(string id, string signal, CancellationToken cancellationToken = default)
    {
        var r = await Runsc(id, ["kill", id, signal], cancellationToken).ConfigureAwait(false);
        if (!r.Succeeded && !IsGone(r))
        {
            throw new ToolFailedException(_binary, ["kill", id, signal], r);
        }
    }

    public async Task DeleteAsync(string id, CancellationToken cancellationToken = default)
    {
        var r = await Runsc(id, ["delete", "--force", id], cancellationToken).ConfigureAwait(false);
        if (!r.Succeeded && !IsGone(r))
        {
            throw new ToolFailedException(_binary, ["delete", id], r);
        }
    }

    public Task PauseAsync(string id, CancellationToken cancellationToken = default) => Checked(id, ["pause", id], cancellationToken);

    public Task ResumeAsync(string id, CancellationToken cancellationToken = default) => Checked(id, ["resume", id], cancellationToken);

    public Task<ProcessResult> ProcessesAsync(string id, CancellationToken cancellationToken = default) => Runsc(id, ["ps", id], cancellationToken);

    public async Task<ExecResult> ExecAsync(string id, IReadOnlyList<string> command, IReadOnlyList<string> env, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var r = await RunExecAsync(id, ExecWrapper.Wrap(command), env, timeout, cancellationToken).ConfigureAwait(false);
        if (ExecWrapper.InitLacksExecMode(r))
        {
            r = await RunExecAsync(id, command, env, timeout, cancellationToken).ConfigureAwait(false);
        }

        return new ExecResult(r.ExitCode, r.StandardOutput, r.StandardError);
    }

    private Task<ProcessResult> RunExecAsync(string id, IEnumerable<string> command, IReadOnlyList<string> env, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var args = new List<string> { "exec" };
        foreach (var e in env)
        {
            args.Add("--env");
            args.Add(e);
        }

        args.Add(id);
        args.AddRange(command);
        var (file, full) = Command(id, args);
        return ProcessRunner.RunAsync(file, full, timeout: timeout, cancellationToken: cancellationToken);
    }

    /// <remarks>runsc exec has no --tty flag: it gives the process a terminal when its own standard input is one.</remarks>
    public IReadOnlyList<string> InteractiveExecCommand(string id, IReadOnlyList<string> command, bool tty)
    {
        var (file, args) = Command(id, ["exec", id, .. command]);
        return [file, .. args];
    }

    /// <summary>The command line of a runsc subcommand for a container, inside its network namespace when it has one.</summary>
    private (string File, List<string> Args) Command(string id, IReadOnlyList<string> args)
    {
        var runsc = new List<string> { "--root", _root, "--platform", _platform };
        runsc.AddRange(args);
        if (_netnsOf(id) is { } ns && File.Exists(ns))
        {
            return ("nsenter", ["--net=" + ns, _binary, .. runsc]);
        }

        return (_binary, runsc);
    }

    private Task<ProcessResult> Runsc(string id, IReadOnlyList<string> args, CancellationToken ct)
    {
        var (file, full) = Command(id, args);
        return ProcessRunner.RunAsync(file, full, timeout: TimeSpan.FromSeconds(60), cancellationToken: ct);
    }

    private async Task<ProcessResult> Checked(string id, IReadOnlyList<string> args, CancellationToken ct)
    {
        var r = await Runsc(id, args, ct).ConfigureAwait(false);
        return r.Succeeded ? r : throw new ToolFailedException(_binary, args, r);
    }

    /// <summary>runsc's reason for a failed checkpoint, without the dump of the object it could not save. The usual one
    /// here (runsc 2022-12): "save rejected due to unsupported networking state: endpoint cannot be saved in connected
    /// state: local A, remote B" — a TCP connection of the sandbox was open.</summary>
    internal static string CheckpointFailure(string diagnostic)
    {
        const string Rejected = "save rejected due to ";
        var i = diagnostic.IndexOf(Rejected, StringComparison.Ordinal);
        if (i >= 0)
        {
            var end = diagnostic.IndexOf(":\n", i, StringComparison.Ordinal);
            return diagnostic[i..(end < 0 ? Math.Min(diagnostic.Length, i + 300) : end)].Trim().TrimEnd(':');
        }

        var text = diagnostic.Trim();
        return text.Length <= 500 ? text : text[..500] + "…";
    }

    private static ContainerState ParseState(JsonElement e) =>
        new(e.GetProperty("id").GetString()!, e.GetProperty("status").GetString()!, e.TryGetProperty("pid", out var p) ? Math.Max(0, p.GetInt32()) : 0);

    private static bool IsGone(ProcessResult r) =>
        r.Diagnostic.Contains("does not exist", StringComparison.Ordinal)
        || r.Diagnostic.Contains("not found", StringComparison.OrdinalIgnoreCase)
        || r.Diagnostic.Contains("not running", StringComparison.Ordinal)
        || r.Diagnostic.Contains("is stopped", StringComparison.Ordinal);

    /// <summary>The last error runsc logged (its JSON log names the real cause better than its exit code).</summary>
    private static string? LastError(string log)
    {
        if (!File.Exists(log))
        {
            return null;
        }

        string? last = null;
        foreach (var line in File.ReadLines(log))
        {
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.TryGetProperty("level", out var l) && l.GetString() is "error" or "fatal" or "warning"
                    && doc.RootElement.TryGetProperty("msg", out var m) && m.GetString() is { } msg
                    && msg.Contains("FATAL", StringComparison.Ordinal))
                {
                    last = msg;
                }
            }
            catch (JsonException)
            {
                // Not every line runsc writes is JSON; the console log carries the rest.
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
