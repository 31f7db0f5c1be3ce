using System.Text.RegularExpressions;

namespace Moat.Monitor.Identify;

/// <summary>What an interpreter was asked to run: a file (resolved inside the sandbox) or inline code.</summary>
public sealed record InterpretedTarget(string Interpreter, string? Script, bool Inline);

/// <summary>
/// Recognises interpreters (shells, python, perl, ruby, node, php, java -jar) from the executable and its
/// argv, and names the script or archive they run, resolved against the process's working directory.
/// </summary>
internal static partial class InterpreterDetector
{
    private static readonly HashSet<string> Shells = ["sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "busybox-sh"];
    private static readonly HashSet<string> Scripting = ["perl", "ruby", "node", "nodejs", "php", "lua"];

    [GeneratedRegex(@"^(python|pypy)[0-9.]*$")]
    private static partial Regex PythonName();

    /// <param name="exePath">The executable as seen inside the sandbox.</param>
    /// <param name="argv">The process's argv (from /proc/PID/cmdline).</param>
    /// <param name="cwd">The working directory inside the sandbox, for relative script paths.</param>
    public static InterpretedTarget? Detect(string? exePath, IReadOnlyList<string> argv, string? cwd)
    {
        string exeName = exePath is null ? "" : Path.GetFileName(exePath);
        string argv0Name = argv.Count > 0 ? Path.GetFileName(argv[0]) : "";
        // A multi-call binary (busybox) is one file for many programs; argv[0] says which one ran.
        string name = exeName is "busybox" or "toybox" || exeName.Length == 0 ? argv0Name : exeName;
        if (name.StartsWith('-'))
        {
            name = name[1..]; // a login shell's argv[0]
        }

        if (Shells.Contains(name))
        {
            return FromArguments(name, argv, cwd, inlineFlags: ["-c"], flagsWithValue: ["-o", "+o"]);
        }

        if (PythonName().IsMatch(name))
        {
            return FromArguments(name, argv, cwd, inlineFlags: ["-c", "-m"], flagsWithValue: ["-W", "-X", "-Q"]);
        }

        if (Scripting.Contains(name))
        {
            return FromArguments(name, argv, cwd, inlineFlags: ["-e", "-E", "-r", "--eval", "-p", "--print"], flagsWithValue: ["-I", "-M", "--require", "-d"]);
        }

        if (name == "java")
        {
            for (int i = 1; i < argv.Count - 1; i++)
            {
                if (argv[i] == "-jar")
                {
                    return new InterpretedTarget("java", Resolve(argv[i + 1], cwd), Inline: false);
                }
            }

            return null;
        }

        return null;
    }

    private static InterpretedTarget FromArguments(string name, IReadOnlyList<string> argv, string? cwd, string[] inlineFlags, string[] flagsWithValue)
    {
        for (int i = 1; i < argv.Count; i++)
        {
            string arg = argv[i];
            if (arg == "--")
            {
                return i + 1 < argv.Count ? new(name, Resolve(argv[i + 1], cwd), false) : new(name, null, false);
            }

            if (inlineFlags.Contains(arg))
            {
                return new InterpretedTarget(name, null, Inline: true);
            }

            if (flagsWithValue.Contains(arg))
            {
                i++;
                continue;
            }

            if (arg.StartsWith('-') || arg.StartsWith('+'))
            {
                // Bundled short flags such as "-ec" still mean inline code for shells.
                if (arg.Length > 1 && arg[0] == '-' && !arg.StartsWith("--", StringComparison.Ordinal) && arg.Contains('c') && inlineFlags.Contains("-c"))
                {
                    return new InterpretedTarget(name, null, Inline: true);
                }

                continue;
            }

            return new InterpretedTarget(name, Resolve(arg, cwd), Inline: false);
        }

        // An interpreter reading its program from stdin: interactive or piped.
        return new InterpretedTarget(name, null, Inline: false);
    }

    private static string Resolve(string path, string? cwd)
    {
        if (path.StartsWith('/') || cwd is null)
        {
            return Normalize(path);
        }

        return Normalize(cwd.TrimEnd('/') + "/" + path);
    }

    /// <summary>Collapses "." and ".." lexically, never leaving the root.</summary>
    internal static string Normalize(string path)
    {
        var parts = new List<string>();
        foreach (string part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".")
            {
                continue;
            }

            if (part == "..")
            {
                if (parts.Count > 0)
                {
                    parts.RemoveAt(parts.Count - 1);
                }

                continue;
            }

            parts.Add(part);
        }

        string joined = string.Join('/', parts);
        return path.StartsWith('/') ? "/" + joined : joined;
    }
}
