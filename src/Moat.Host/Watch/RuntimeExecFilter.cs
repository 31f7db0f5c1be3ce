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
internal sealed class RuntimeExecFilter(string runtimeName, string? runtimePath, string? runtimeSha256)
{
    public string RuntimeName => runtimeName;

    public string? RuntimeSha256 => runtimeSha256;

    /// <summary>Finds the runtime binary on PATH (as the agent runs it) and hashes it once.</summary>
    public static RuntimeExecFilter For(string runtime)
    {
        string? path = Path.IsPathFullyQualified(runtime) ? runtime
            : (Environment.GetEnvironmentVariable("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").Split(':')
                .Select(d => Path.Combine(d, runtime)).FirstOrDefault(File.Exists);
        string? sha = null;
        if (path is not null)
        {
            using var f = File.OpenRead(path);
            sha = Convert.ToHexStringLower(SHA256.HashData(f));
        }

        return new RuntimeExecFilter(Path.GetFileName(runtime), path, sha);
    }

    /// <summary>Why the record is the runtime's, or null when it is not (then it is the tenant's).</summary>
    public string? Classify(ExecRecord record)
    {
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
