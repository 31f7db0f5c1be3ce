using System.Diagnostics;

namespace Moat.Cli.Tests;

/// <summary>The built `moat` executable, as a shell runs it: the same one line and exit code as in process, and the
/// stack trace only with --debug.</summary>
public sealed class RealBinaryTests : IDisposable
{
    private readonly string _empty = Directory.CreateTempSubdirectory("moat-cli-bin-").FullName;

    public void Dispose() => Directory.Delete(_empty, recursive: true);

    [Fact]
    public async Task Host_status_without_an_agent_exits_5_with_one_sentence()
    {
        var r = await RunAsync("--state-dir", _empty, "host", "status");

        Assert.Equal(5, r.Code);
        Assert.Equal([$"moat: no host agent is listening on {Path.Combine(_empty, "agent.sock")}; start one with 'moat host' (or pass --state-dir)."], r.ErrLines);
        Assert.Equal("", r.Out);
    }

    [Fact]
    public async Task Exec_without_an_agent_exits_125_so_a_script_tells_it_from_the_commands_own_code()
    {
        var r = await RunAsync("--state-dir", _empty, "sandbox", "exec", "web", "--", "sh", "-c", "exit 5");

        Assert.Equal(125, r.Code);
        Assert.Single(r.ErrLines);
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public async Task A_missing_file_exits_4_and_a_bad_size_exits_2_each_in_one_line()
    {
        var missing = Path.Combine(_empty, "node-a.pem");
        var allow = await RunAsync("--state-dir", _empty, "sandbox", "allow", "web", "--authcert", missing, "--key", missing);
        Assert.Equal(4, allow.Code);
        Assert.Single(allow.ErrLines);
        Assert.Contains(missing, allow.Err, StringComparison.Ordinal);

        var size = await RunAsync("--state-dir", _empty, "sandbox", "run", "--memory", "12Q");
        Assert.Equal(2, size.Code);
        Assert.Equal(["moat: --memory '12Q' is not valid: give a number with an optional K, M, G or T suffix, e.g. 256M."], size.ErrLines);
    }

    [Fact]
    public async Task Debug_adds_the_stack_trace_after_the_sentence()
    {
        var r = await RunAsync("--debug", "--state-dir", _empty, "host", "status");

        Assert.Equal(5, r.Code);
        Assert.StartsWith("moat: no host agent is listening", r.ErrLines[0], StringComparison.Ordinal);
        Assert.Contains("   at ", r.Err, StringComparison.Ordinal);
    }

    private static async Task<CliRun> RunAsync(params string[] args)
    {
        var apphost = Path.Combine(AppContext.BaseDirectory, "moat");
        var psi = File.Exists(apphost) ? new ProcessStartInfo(apphost) : new ProcessStartInfo("dotnet") { ArgumentList = { Path.Combine(AppContext.BaseDirectory, "moat.dll") } };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.RedirectStandardOutput = psi.RedirectStandardError = true;
        psi.Environment.Remove("MOAT_DEBUG");
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await p.WaitForExitAsync(guard.Token);
        }
        finally
        {
            if (!p.HasExited)
            {
                p.Kill(entireProcessTree: true);
            }
        }

        return new CliRun(p.ExitCode, await stdout, await stderr);
    }
}
