using System.Globalization;

namespace Moat.Cli.Front;

/// <summary>The verbs the native front serves itself.</summary>
internal enum FrontVerb
{
    Version,
    List,
    Remove,
    Run,
    Exec,
}

/// <summary>
/// A command line the native front serves itself: `--version`, `sandbox run|ls|rm|exec` in the shapes written out
/// below. <see cref="Parse"/> is strict on purpose: anything it does not recognise exactly (help, an option it does not
/// know, a repeated option, a value it cannot read, `-t`, a response file) yields null, and the whole command line goes
/// to the full CLI, which gives the answer, the help or the one-sentence error. So the front never reads a command line
/// differently from the full CLI; it only answers some of them sooner.
/// </summary>
internal sealed record FrontCommand
{
    public required FrontVerb Verb { get; init; }

    /// <summary>The --state-dir given, or null for the default ($MOAT_STATE_DIR, else /var/lib/moat).</summary>
    public string? StateDir { get; init; }

    public bool Json { get; init; }

    /// <summary>ls: also the warm pool's unclaimed sandboxes.</summary>
    public bool All { get; init; }

    /// <summary>rm: the sandboxes; exec: one, the target.</summary>
    public IReadOnlyList<string> Targets { get; init; } = [];

    /// <summary>run: the claim's body, only the fields given (the agent's defaults are the full CLI's defaults).</summary>
    public IReadOnlyDictionary<string, object> Spec { get; init; } = new Dictionary<string, object>();

    /// <summary>run and exec: the command after --.</summary>
    public IReadOnlyList<string> Command { get; init; } = [];

    /// <summary>exec: KEY=VALUE pairs.</summary>
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();

    /// <summary>exec: seconds before the command is killed.</summary>
    public double TimeoutSeconds { get; init; } = 60;

    /// <summary>The command this front serves, or null when the full CLI must take the whole command line.</summary>
    public static FrontCommand? Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (args is ["--version"])
        {
            return new FrontCommand { Verb = FrontVerb.Version };
        }

        var reader = new Reader(args);
        if (!reader.TryCollect())
        {
            return null;
        }

        return reader.Words switch
        {
            ["sandbox", "ls" or "list"] => reader.Build(FrontVerb.List, ["--all", "-a"]),
            ["sandbox", "rm" or "destroy", _, ..] => reader.Build(FrontVerb.Remove, []),
            ["sandbox", "run"] => reader.Build(FrontVerb.Run, RunOptions),
            ["sandbox", "exec", _] when reader.AfterDashes.Count > 0 => reader.Build(FrontVerb.Exec, ["--env", "-e", "--timeout"]),
            _ => null,
        };
    }

    private static readonly string[] RunOptions =
        ["--image", "--name", "--memory", "--cpus", "--pids", "--disk", "--env", "-e", "--client", "--no-volume", "--tier", "--trust", "--client-address"];

    /// <summary>Options that take no value.</summary>
    private static readonly string[] Switches = ["--json", "--all", "-a", "--no-volume"];

    /// <summary>Options that may be given more than once.</summary>
    private static readonly string[] Repeatable = ["--env", "-e"];

    private static readonly string[] Tiers = ["container", "gvisor", "vm"];

    /// <summary>Splits a command line into words (verbs and arguments), options with their values, and what follows --.</summary>
    private sealed class Reader(IReadOnlyList<string> args)
    {
        public List<string> Words { get; } = [];

        public List<(string Name, string? Value)> Options { get; } = [];

        public List<string> AfterDashes { get; } = [];

        public bool TryCollect()
        {
            for (var i = 0; i < args.Count; i++)
            {
                var a = args[i];
                if (a == "--")
                {
                    AfterDashes.AddRange(args.Skip(i + 1));
                    return true;
                }

                if (a.Length == 0 || a[0] == '@')
                {
                    return false; // an empty word or a response file: the full CLI decides what it means
                }

                if (a[0] != '-')
                {
                    Words.Add(a);
                    continue;
                }

                var name = a;
                string? value = null;
                var eq = a.IndexOf('=', StringComparison.Ordinal);
                if (a.StartsWith("--", StringComparison.Ordinal) && eq > 2)
                {
                    (name, value) = (a[..eq], a[(eq + 1)..]);
                }

                if (!IsKnown(name))
                {
                    return false; // --help, -h, -t, -i, a bundle such as -it, or an option of another verb
                }

                if (Switches.Contains(name))
                {
                    if (value is not null)
                    {
                        return false; // --json=false and the like: the full CLI reads booleans
                    }
                }
                else if (value is null)
                {
                    if (i + 1 >= args.Count || args[i + 1].StartsWith('-') || args[i + 1].Length == 0)
                    {
                        return false; // a missing value, or one that looks like an option
                    }

                    value = args[++i];
                }

                Options.Add((name, value));
            }

            return true;
        }

        public FrontCommand? Build(FrontVerb verb, string[] allowed)
        {
            string? stateDir = null;
            bool json = false, all = false;
            var spec = new Dictionary<string, object>(StringComparer.Ordinal);
            var env = new Dictionary<string, string>(StringComparer.Ordinal);
            var timeout = 60.0;
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (name, value) in Options)
            {
                var canonical = name switch { "-e" => "--env", "-a" => "--all", _ => name };
                if (!seen.Add(canonical) && !Repeatable.Contains(name))
                {
                    return null; // the full CLI decides what a repeated option means
                }

                switch (name)
                {
                    case "--state-dir":
                        stateDir = value;
                        continue;
                    case "--json":
                        json = true;
                        continue;
                    default:
                        break;
                }

                if (!allowed.Contains(name))
                {
                    return null;
                }

                var ok = name switch
                {
                    "--all" or "-a" => all = true,
                    "--no-volume" => Set(spec, "volume", false),
                    "--image" or "--name" or "--client" or "--trust" or "--client-address" => Set(spec, name[2..] switch
                    {
                        "client-address" => "clientAddress",
                        var n => n,
                    }, value!),
                    "--tier" => Tiers.Contains(value) && Set(spec, "tier", value!),
                    "--memory" => TryParseSize(value!, out var m) && Set(spec, "memoryBytes", m),
                    "--disk" => TryParseSize(value!, out var d) && Set(spec, "diskBytes", d),
                    "--cpus" => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var c) && double.IsFinite(c) && Set(spec, "cpus", c),
                    "--pids" => int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var p) && Set(spec, "pids", p),
                    "--timeout" => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out timeout) && double.IsFinite(timeout),
                    "--env" or "-e" => TryAddEnv(env, value!),
                    _ => false,
                };
                if (!ok)
                {
                    return null; // the full CLI says what is wrong with the value
                }
            }

            if (verb == FrontVerb.Run)
            {
                if (env.Count > 0)
                {
                    spec["env"] = env;
                }

                if (AfterDashes.Count > 0)
                {
                    spec["command"] = AfterDashes.ToArray();
                }
            }

            return new FrontCommand
            {
                Verb = verb,
                StateDir = stateDir,
                Json = json,
                All = all,
                Targets = Words.Skip(2).ToArray(),
                Spec = spec,
                Command = AfterDashes.ToArray(),
                Env = env,
                TimeoutSeconds = timeout,
            };
        }

        private static bool IsKnown(string name) => name == "--state-dir" || Switches.Contains(name) || RunOptions.Contains(name) || name == "--timeout";

        private static bool Set(Dictionary<string, object> spec, string key, object value)
        {
            spec[key] = value;
            return true;
        }

        private static bool TryAddEnv(Dictionary<string, string> env, string entry)
        {
            var eq = entry.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                return false;
            }

            env[entry[..eq]] = entry[(eq + 1)..];
            return true;
        }
    }

    /// <summary>The full CLI's size syntax (SandboxCommands.ParseSize): a number with an optional K, M, G or T suffix,
    /// optionally followed by iB or B. Whatever this cannot read goes to the full CLI, which explains.</summary>
    internal static bool TryParseSize(string text, out long bytes)
    {
        bytes = 0;
        var t = text.Trim().ToUpperInvariant().Replace("IB", "", StringComparison.Ordinal).TrimEnd('B');
        long mult = 1;
        if (t.Length > 0 && "KMGT".Contains(t[^1], StringComparison.Ordinal))
        {
            mult = t[^1] switch { 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, _ => 1L << 40 };
            t = t[..^1];
        }

        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || v <= 0 || !double.IsFinite(v * mult) || v * mult > long.MaxValue)
        {
            return false;
        }

        bytes = (long)(v * mult);
        return true;
    }
}
