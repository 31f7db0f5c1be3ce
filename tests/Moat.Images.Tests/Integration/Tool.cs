using System.Diagnostics;

namespace Moat.Images.Tests.Integration;

/// <summary>Runs a host tool to completion and returns what it printed.</summary>
internal static class Tool
{
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    public static async Task RunCheckedAsync(string file, params string[] arguments)
    {
        var (exitCode, stdout, stderr) = await RunAsync(file, arguments);
        Assert.True(exitCode == 0, $"{file} {string.Join(' ', arguments)} exited {exitCode}: {stdout} {stderr}");
    }
}
