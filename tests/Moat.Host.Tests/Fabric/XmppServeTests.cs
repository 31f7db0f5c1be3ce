using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Moat.Host.Tests.Fabric;

/// <summary>`moat xmpp serve` as scripts/up runs it: a signal to the command stops the Prosody it started.</summary>
[Trait("Category", "Integration")]
public sealed class XmppServeTests
{
    [Theory]
    [InlineData("TERM")]
    [InlineData("INT")]
    public async Task A_signal_to_xmpp_serve_stops_its_prosody_before_the_command_exits(string signal)
    {
        var data = Directory.CreateTempSubdirectory("moat-xs-").FullName;
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "moat.dll"), "xmpp", "serve", "--data", data, "--port", FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture) })
        {
            psi.ArgumentList.Add(a);
        }

        using var serve = Process.Start(psi)!;
        var prosodyPid = 0;
        try
        {
            var line = await serve.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            if (line?.StartsWith("Prosody serves", StringComparison.Ordinal) != true)
            {
                serve.Kill(entireProcessTree: true);
                Assert.Fail($"xmpp serve did not start: {line} {await serve.StandardError.ReadToEndAsync()}");
            }

            prosodyPid = int.Parse((await File.ReadAllTextAsync(Path.Combine(data, "prosody.pid"))).Trim(), System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(Directory.Exists($"/proc/{prosodyPid}"));

            using (var kill = Process.Start("kill", [$"-{signal}", serve.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }

            await serve.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(0, serve.ExitCode);
            Assert.False(Directory.Exists($"/proc/{prosodyPid}"), $"Prosody (pid {prosodyPid}) outlived 'moat xmpp serve'");
        }
        finally
        {
            if (!serve.HasExited)
            {
                serve.Kill(entireProcessTree: true);
            }

            if (prosodyPid > 0 && Directory.Exists($"/proc/{prosodyPid}"))
            {
                using var kill = Process.Start("kill", ["-KILL", prosodyPid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                await kill.WaitForExitAsync();
            }

            Directory.Delete(data, recursive: true);
        }
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
