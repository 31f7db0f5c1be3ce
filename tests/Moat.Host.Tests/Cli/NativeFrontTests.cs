using System.Diagnostics;
using Moat.Host.Tests.Integration;

namespace Moat.Host.Tests.Cli;

/// <summary>
/// The installed `moat` (artifacts/moat, the native front scripts/setup builds) against a real agent: the verbs it
/// serves answer as the full CLI answers (same output, same exit code), and what it does not serve is the full CLI's
/// answer, through artifacts/full/moat. The full CLI built beside these tests is the reference.
/// </summary>
[Trait("Category", "Integration")]
public sealed class NativeFrontTests
{
    private static readonly string Repo = FindRepo();

    private static string Front => Path.Combine(Repo, "artifacts", "moat");

    [Fact]
    public async Task Version_is_the_full_clis()
    {
        // Both from the same scripts/setup (the version names the commit they were built from).
        var front = await RunAsync([Front, "--version"]);
        var full = await RunAsync([Path.Combine(Repo, "artifacts", "full", "moat"), "--version"]);
        Assert.Equal((0, full.Out), (front.Code, front.Out));
        Assert.StartsWith("1.0.0+", front.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Served_verbs_answer_as_the_full_cli_does_and_the_rest_is_handed_over()
    {
        await using var h = await AgentHarness.StartAsync(warm: new Dictionary<string, int> { ["busybox"] = 1 });
        await h.Client.FillPoolAsync();
        string[] Native(params string[] args) => [Front, "--state-dir", h.Options.StateDir, .. args];

        var run = await RunAsync(Native("sandbox", "run", "--name", "nf", "--memory", "64M", "-e", "GREETING=hi"));
        Assert.True(run.Code == 0, run.Err);
        var fields = run.Out.Split("  ");
        Assert.Equal(("nf", "running"), (fields[1], fields[2]));
        Assert.Contains("(warm pool, ", run.Out, StringComparison.Ordinal);
        var made = await h.Client.InspectAsync("nf");
        Assert.Equal((64 * Moat.Host.Sandboxes.SandboxSpec.MiB, "hi"), (made.Sandbox.Spec.MemoryBytes, made.Sandbox.Spec.Env["GREETING"]));

        // A main command makes the claim a cold create; the front sends it as the full CLI does.
        var cold = await RunAsync(Native("sandbox", "run", "--name", "nfc", "--", "sleep", "3600"));
        Assert.True(cold.Code == 0, cold.Err);
        Assert.Contains("(cold, ", cold.Out, StringComparison.Ordinal);
        Assert.Equal(["sleep", "3600"], (await h.Client.InspectAsync("nfc")).Sandbox.Spec.Command);

        foreach (var args in new[]
        {
            new[] { "sandbox", "ls" },
            ["sandbox", "ls", "--json"],
            ["sandbox", "exec", "nf", "--", "sh", "-c", "echo out $GREETING; echo err >&2; exit 3"],
            ["sandbox", "exec", "--json", "-e", "GREETING=yo", "nf", "--", "sh", "-c", "echo $GREETING"],
            ["sandbox", "inspect", "nf"],                       // handed over
            ["sandbox", "exec", "nf"],                          // handed over: the full CLI's usage answer
            ["sandbox", "rm", "--help"],                        // handed over
        })
        {
            var front = await RunAsync(Native(args));
            var full = await RunAsync(h.Moat(args));
            Assert.True(full == front, $"moat {string.Join(' ', args)}: native {front}, full {full}");
        }

        var rm = await RunAsync(Native("sandbox", "rm", "nf"));
        Assert.Equal((0, "nf  destroyed\n"), (rm.Code, rm.Out));
        var again = await RunAsync(Native("sandbox", "rm", "nf"));
        Assert.Equal(4, again.Code);
        Assert.Single(again.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("moat: ", again.Err, StringComparison.Ordinal);
        Assert.Empty(again.Out);
    }

    [Fact]
    public async Task Without_an_agent_the_answer_is_the_full_clis()
    {
        var empty = Directory.CreateTempSubdirectory("moat-nf-").FullName;
        try
        {
            foreach (var args in new[] { new[] { "sandbox", "ls" }, ["sandbox", "run"], ["sandbox", "rm", "x"], ["sandbox", "exec", "x", "--", "true"] })
            {
                var front = await RunAsync([Front, "--state-dir", empty, .. args]);
                var full = await RunAsync(["dotnet", Path.Combine(AppContext.BaseDirectory, "moat.dll"), "--state-dir", empty, .. args]);
                Assert.True(full == front, $"moat {string.Join(' ', args)}: native {front}, full {full}");
                Assert.NotEqual(0, front.Code);
            }
        }
        finally
        {
            Directory.Delete(empty, recursive: true);
        }
    }

    private static async Task<Result> RunAsync(string[] args)
    {
        Assert.True(File.Exists(args[0]) || args[0] == "dotnet", $"{args[0]} is missing: run scripts/setup (it builds the native front and the full CLI)");
        var psi = new ProcessStartInfo(args[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args.Skip(1))
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
        return new Result(p.ExitCode, await o, await e);
    }

    private static string FindRepo()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "Moat.sln")))
            {
                return d.FullName;
            }
        }

        throw new InvalidOperationException($"no Moat.sln above {AppContext.BaseDirectory}");
    }

    private sealed record Result(int Code, string Out, string Err);
}
