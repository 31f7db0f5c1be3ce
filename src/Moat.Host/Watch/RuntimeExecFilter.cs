using System.Security.Cryptography;
using Moat.Monitor;

namespace Moat.Host.Watch;

/// <summary>
/// Tells the OCI runtime's own execs in a sandbox (runc's `runc init`, once per start and once per exec) from the
/// tenant's. An exec is the runtime's when (1) its process entered the sandbox from the host rather than being forked
/// by one of the sandbox's processes (<see cref="ExecRecord.EnteredFromHost"/>: a tenant cannot make such a process),
/// (2) it runs from a file the host cannot name (runc's sealed copy of itself, <see cref="VerificationStatus.AnonymousExecution"/>),
/// and (3) its content, where captured, is the runtime binary's. Content captured that is not the runtime's is the
/// tenant's or unexplained, and is left to the rules (anonymous-execution alerts).
/// </summary>
/// <remarks>Moat's own sandbox init (<see cref="Runtime.OciSpecBuilder.InitPathInSandbox"/>, bind-mounted read-only
/// from the host) is classified the same way: exec'd by the runtime's process as it enters, at that path, with exactly the
/// agent's init binary's content. The same file exec'd by a tenant's process is the tenant's exec.</remarks>
internal sealed class RuntimeExecFilter(string runtimeName, string? runtimePath, string? runtimeSha256, string? initPath = null, string? initSha256 = null)
{
    public string RuntimeName => runtimeName;

    public string? RuntimeSha256 => runtimeSha256;

    /// <summary>Finds the runtime binary on PATH (as the agent runs it) and hashes it and the sandbox init once.</summary>
    public static RuntimeExecFilter For(string runtime, string? initBinary = null)
    {
        string? path = Path.IsPathFullyQualified(runtime) ? runtime
            : (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':')
                .Select(d => Path.Combine(d, runtime)).FirstOrDefault(File.Exists);
        string? sha = path is null || !File.Exists(path) ? null : Hash(path);

        return new RuntimeExecFilter(Path.GetFileName(runtime), path, sha, initBinary, initBinary is not null && File.Exists(initBinary) ? Hash(initBinary) : null);
    }

    private static string Hash(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }

    /// <summary>Why the record is the runtime's, or null when it is not (then it is the tenant's).</summary>
    public string? Classify(ExecRecord record)
    {
        if (record.EnteredFromHost && initSha256 is not null && record.Path == Runtime.OciSpecBuilder.InitPathInSandbox
            && string.Equals(record.Sha256, initSha256, StringComparison.Ordinal))
        {
            return $"Moat's sandbox init, started by {runtimeName} as the sandbox's first process; content is {initPath} (SHA-256 {initSha256[..12]}...)";
        }

        if (!record.EnteredFromHost || record.Verification != VerificationStatus.AnonymousExecution)
        {
            return null;
        }

        if (record.Sha256 is null)
        {
            return $"entered the sandbox from the host and runs from a file the host cannot name; content not captured, so not confirmed to be {runtimeName}";
        }

        return runtimeSha256 is not null && string.Equals(record.Sha256, runtimeSha256, StringComparison.Ordinal)
            ? $"entered the sandbox from the host; content is {runtimePath} (SHA-256 {runtimeSha256[..12]}...)"
            : null;
    }
}
