namespace Moat.Host.Runtime;

/// <summary>
/// A non-interactive exec runs its command under the sandbox init's exec mode (<c>/.moat/init --exec -- COMMAND</c>,
/// native/moat-init.c), which returns as soon as the command exits, with its exit code and everything it wrote, even
/// when a background process it started still holds its output open. Without it `runc exec` copies the output until
/// end of file and `runsc exec` hands the agent's own pipes into the sandbox, so the exec waited for the last
/// background process (or its timeout).
/// </summary>
internal static class ExecWrapper
{
    private const string Mode = "--exec";

    /// <summary>The command line to give the runtime in place of <paramref name="command"/>.</summary>
    public static IEnumerable<string> Wrap(IReadOnlyList<string> command) => [OciSpecBuilder.InitPathInSandbox, Mode, "--", .. command];

    /// <summary>True when the sandbox's init predates the exec mode (a sandbox started by an older agent keeps the init
    /// it was started with): it took "--exec" for the command and could not run it. Such an exec is run unwrapped.</summary>
    public static bool InitLacksExecMode(ProcessResult r) =>
        r.ExitCode == 127 && r.StandardError.StartsWith($"moat-init: cannot run {Mode}:", StringComparison.Ordinal);
}
