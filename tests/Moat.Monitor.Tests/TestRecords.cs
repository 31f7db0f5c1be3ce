namespace Moat.Monitor.Tests;

internal static class TestRecords
{
    public static readonly DateTimeOffset T0 = new(2026, 11, 22, 6, 0, 0, TimeSpan.Zero);

    public static ExecRecord Exec(
        string path = "/usr/bin/curl",
        string[]? argv = null,
        string sandbox = "sb-1",
        string? kind = "service",
        string? package = "curl",
        string? version = "7.88.1-10+deb12u5",
        string? ecosystem = "Debian",
        string? interpreter = null,
        string? script = null,
        bool? drift = false,
        VerificationStatus verification = VerificationStatus.Verified,
        string sha = "aa11",
        int minutes = 0) =>
        new(T0.AddMinutes(minutes), sandbox, "client-a", kind, 100, 1, path, argv ?? [path], sha, "b1d", ecosystem, package, version,
            interpreter, script, false, drift, drift == true ? "not in image" : null, verification, null);
}
