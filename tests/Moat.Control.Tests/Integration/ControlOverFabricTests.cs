using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Moat.Host.Fabric;
using Moat.Host.Metrics;
using Moat.Host.Tests.Fabric;

namespace Moat.Control.Tests.Integration;

/// <summary>
/// The control plane for real: Kestrel on loopback, a real Prosody, a real host agent on it (runc, its own network
/// namespace, addresses from 198.19.0.0/16 in that namespace only), and a real Prometheus scraping both.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ControlOverFabricTests
{
    [Fact]
    public async Task A_client_claims_execs_and_removes_a_sandbox_through_the_api_and_the_fabric_and_another_client_sees_nothing()
    {
        await using var f = await FabricHarness.StartAsync(new Dictionary<string, int> { ["busybox"] = 1 }, "198.19.31.0/24");
        await using var h = await StartControlAsync(f);
        using var admin = h.Http(h.AdminKey);
        await FabricHarness.WaitForAsync(() => HostsAsync(admin).GetAwaiter().GetResult().Any(x => x.GetProperty("poolReady").GetInt32() == 1),
            "the control plane sees the host with its warm sandbox ready", 60);

        var alice = await h.ClientKeyAsync("alice", "trusted");
        var bob = await h.ClientKeyAsync("bob", "trusted");
        using var a = h.Http(alice);
        using var b = h.Http(bob);
        var claim = await ControlHarness.JsonAsync(await a.PostAsJsonAsync("/v1/sandboxes", new { name = "web", memoryMb = 64 }), HttpStatusCode.Created);
        Assert.True(claim.GetProperty("fromPool").GetBoolean());
        var sandbox = claim.GetProperty("sandbox");
        var id = sandbox.GetProperty("id").GetString()!;
        Assert.Equal(f.HostJid + "/agent", sandbox.GetProperty("host").GetString());
        Assert.Equal("container", sandbox.GetProperty("tier").GetString());
        Assert.StartsWith("198.19.31.", sandbox.GetProperty("address").GetString(), StringComparison.Ordinal);

        // On the host it is the control plane's, named by its id, with the client's trust asked for.
        var local = await f.Host.Client.InspectAsync(id);
        Assert.Equal(f.AdminJid, local.Sandbox.Spec.Client);
        Assert.Equal("trusted", local.Sandbox.Spec.Trust);

        var exec = await ControlHarness.JsonAsync(await a.PostAsJsonAsync("/v1/sandboxes/web/exec", new { command = new[] { "sh", "-c", "echo hi from $(hostname); exit 3" } }),
            HttpStatusCode.OK);
        Assert.Equal(3, exec.GetProperty("exitCode").GetInt32());
        Assert.StartsWith("hi from ", exec.GetProperty("stdout").GetString(), StringComparison.Ordinal);

        // Bob: nothing listed, and Alice's sandbox answered like a missing one, by id and by name.
        Assert.Equal(0, (await ControlHarness.JsonAsync(await b.GetAsync("/v1/sandboxes"), HttpStatusCode.OK)).GetArrayLength());
        var missing = await (await b.GetAsync("/v1/sandboxes/sb-0000000000000000")).Content.ReadAsStringAsync();
        Assert.Equal(missing, await (await b.GetAsync($"/v1/sandboxes/{id}")).Content.ReadAsStringAsync());
        var bobExec = await b.PostAsJsonAsync($"/v1/sandboxes/{id}/exec", new { command = new[] { "touch", "/pwned" } });
        Assert.Equal(HttpStatusCode.NotFound, bobExec.StatusCode);
        Assert.Equal(missing, await bobExec.Content.ReadAsStringAsync());
        Assert.NotEqual(0, (await f.Host.Client.ExecAsync(id, ["test", "-e", "/pwned"])).ExitCode);

        Assert.Equal(HttpStatusCode.NoContent, (await a.DeleteAsync("/v1/sandboxes/web")).StatusCode);
        Assert.DoesNotContain(await f.Host.Client.ListAsync(), s => s.Name == id);
        Assert.Equal(HttpStatusCode.NotFound, (await a.GetAsync("/v1/sandboxes/web")).StatusCode);

        // The claim and its fabric round trip are in the control plane's metrics.
        var metrics = await h.Http().GetStringAsync("/metrics");
        Assert.Contains("moat_control_claim_seconds_count{outcome=\"ok\",from_pool=\"true\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("moat_control_fabric_round_trip_seconds_count{op=\"claim\",outcome=\"ok\"} 1", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_no_host_offering_what_the_trust_needs_the_claim_is_refused_with_one_sentence_and_nothing_is_kept()
    {
        await using var f = await FabricHarness.StartAsync(pool: "198.19.32.0/24");
        await using var h = await StartControlAsync(f);
        using var admin = h.Http(h.AdminKey);
        await FabricHarness.WaitForAsync(() => HostsAsync(admin).GetAwaiter().GetResult().Count > 0, "the host is online", 60);
        var key = await h.ClientKeyAsync("carol", "trusted");
        using var c = h.Http(key);
        var r = await c.PostAsJsonAsync("/v1/sandboxes", new { memoryMb = 1024 * 1024 });
        var body = await ControlHarness.JsonAsync(r, HttpStatusCode.ServiceUnavailable);
        Assert.Contains("no online host offers", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, (await ControlHarness.JsonAsync(await c.GetAsync("/v1/sandboxes"), HttpStatusCode.OK)).GetArrayLength());
        Assert.Empty(await f.Host.Client.ListAsync());
    }

    [Fact]
    public async Task A_real_prometheus_scrapes_the_control_plane_and_the_agent_and_answers_a_query_for_each()
    {
        await using var f = await FabricHarness.StartAsync(new Dictionary<string, int> { ["busybox"] = 1 }, "198.19.33.0/24");
        await using var h = await StartControlAsync(f);
        var agentPort = ControlHarness.FreePort();
        var agentMetrics = new AgentMetricsServer(new IPEndPoint(IPAddress.Loopback, agentPort), f.Host.Service<AgentMetrics>(), NullLogger<AgentMetricsServer>.Instance);
        await agentMetrics.StartAsync(CancellationToken.None);
        var dir = Directory.CreateTempSubdirectory("moat-prometheus-").FullName;
        Process? prometheus = null;
        try
        {
            var promPort = ControlHarness.FreePort();
            await File.WriteAllTextAsync(Path.Combine(dir, "prometheus.yml"), $"""
                global:
                  scrape_interval: 1s
                  scrape_timeout: 1s
                scrape_configs:
                  - job_name: control
                    static_configs: [{"{"} targets: ["{h.Options.Listen}"] {"}"}]
                  - job_name: agent
                    static_configs: [{"{"} targets: ["127.0.0.1:{agentPort}"] {"}"}]
                """);
            prometheus = Process.Start(new ProcessStartInfo("prometheus",
                [$"--config.file={dir}/prometheus.yml", $"--storage.tsdb.path={dir}/data", $"--web.listen-address=127.0.0.1:{promPort}", "--storage.tsdb.retention.time=1h"])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            })!;
            prometheus.ErrorDataReceived += (_, _) => { };
            prometheus.OutputDataReceived += (_, _) => { };
            prometheus.BeginErrorReadLine();
            prometheus.BeginOutputReadLine();

            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{promPort}/"), Timeout = TimeSpan.FromSeconds(5) };
            var target = await QueryAsync(http, "moat_host_pool_target{job=\"agent\",image=\"busybox\"}");
            Assert.Equal("1", target);
            var online = await QueryAsync(http, "moat_control_hosts_online{job=\"control\"}");
            Assert.Equal("1", online);
        }
        finally
        {
            if (prometheus is { HasExited: false })
            {
                prometheus.Kill();
                await prometheus.WaitForExitAsync();
            }

            prometheus?.Dispose();
            await agentMetrics.StopAsync(CancellationToken.None);
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Asks Prometheus's HTTP API until the series has a sample (bounded: 60 s), and returns its value.</summary>
    private static async Task<string> QueryAsync(HttpClient prometheus, string query)
    {
        var deadline = Stopwatch.StartNew();
        string last = "(no answer)";
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            try
            {
                var answer = JsonDocument.Parse(await prometheus.GetStringAsync("api/v1/query?query=" + Uri.EscapeDataString(query))).RootElement;
                last = answer.ToString();
                var result = answer.GetProperty("data").GetProperty("result");
                if (result.GetArrayLength() > 0)
                {
                    return result[0].GetProperty("value")[1].GetString()!;
                }
            }
            catch (HttpRequestException)
            {
                // Prometheus is still starting.
            }

            await Task.Delay(250);
        }

        throw new TimeoutException($"Prometheus returned no sample for {query} within 60 s; last answer: {last}");
    }

    private static async Task<List<JsonElement>> HostsAsync(HttpClient admin) =>
        [.. (await admin.GetFromJsonAsync<JsonElement>("/v1/hosts")).EnumerateArray()];

    private static async Task<ControlHarness> StartControlAsync(FabricHarness f)
    {
        var dir = Directory.CreateTempSubdirectory("moat-control-fabric-").FullName;
        var password = Path.Combine(dir, "control.pw");
        await File.WriteAllTextAsync(password, FabricHarness.Password + "\n");
        return await ControlHarness.StartAsync(configure: o => o with
        {
            Jid = f.AdminJid,
            XmppServer = $"{f.Server.Address}:{f.Server.Port.ToString(CultureInfo.InvariantCulture)}",
            XmppPasswordFile = password,
            Hosts = [f.HostJid],
            Resource = "control-" + Guid.NewGuid().ToString("N")[..6],
        }, stateDir: dir);
    }
}
