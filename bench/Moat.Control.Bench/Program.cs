// The control plane's benchmarks (issue 15): a warm claim through the HTTP API and the XMPP fabric beside the same
// claim over the fabric alone and over the host's local socket, interleaved in one run; and GET /v1/sandboxes under
// wrk with many sandboxes in the store, beside the same server's /healthz.
// Usage (root, repository root): Moat.Control.Bench [claim|list|all] [--runs N] [--sandboxes N] [--seconds N]
// Everything listens on loopback; sandboxes' host sides live in a namespace this program makes (mcb*).
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Moat.Cli.Composition;
using Moat.Control;
using Moat.Control.Store;
using Moat.Host.Agent;
using Moat.Host.Client;
using Moat.Host.Fabric;
using Moat.Host.Sandboxes;
using Moat.Images.Store;
using Moat.Xmpp.Server;

[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

var mode = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal)) ?? "all";
if (args.Contains("--help") || mode is not ("claim" or "list" or "all"))
{
    Console.WriteLine("""
        Moat.Control.Bench [claim|list|all] [--runs N] [--sandboxes N] [--seconds N]
          claim   warm claim p50/p99 over --runs (100): local socket, fabric alone, HTTP API + fabric (interleaved)
          list    GET /v1/sandboxes under wrk (2 threads, 16 connections, --seconds 10) with --sandboxes (1000) stored,
                  beside GET /healthz on the same server
        Run as root from the repository root; figures go to stdout as Markdown tables.
        """);
    return mode is "claim" or "list" or "all" ? 0 : 2;
}

int Arg(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

var runs = Arg("--runs", 100);
var count = Arg("--sandboxes", 1000);
var seconds = Arg("--seconds", 10);
var tag = Guid.NewGuid().ToString("N")[..6];
var root = Directory.CreateTempSubdirectory("moat-control-bench-").FullName;
var hostNs = "mcb" + tag;
const string Password = "bench-pw";
Console.WriteLine($"# Moat control-plane benchmarks — {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]} at start");

var prosody = await ProsodyServer.StartAsync(ProsodyOptions.Default);
prosody.AddAccount("host", Password);
prosody.AddAccount("control", Password);
var hostJid = "host@" + prosody.Domain;
var controlJid = "control@" + prosody.Domain;
var passwordFile = Path.Combine(root, "pw");
await File.WriteAllTextAsync(passwordFile, Password + "\n");
await Sh("ip", "netns", "add", hostNs);
Microsoft.AspNetCore.Builder.WebApplication? agent = null;
ControlServer.Started? control = null;
try
{
    var state = Path.Combine(root, "host");
    Directory.CreateDirectory(state);
    await ImageStore.Open(Path.Combine(state, "images")).BuildBusyboxAsync();
    agent = await HostAgent.BuildAsync(new HostAgentOptions
    {
        StateDir = state,
        HostNamespace = hostNs,
        AddressPool = "198.19.192.0/20",
        Pool = new Dictionary<string, int> { ["busybox"] = 1 },
        Tiers = new TierOptions { ClientTrust = new Dictionary<string, string> { [controlJid] = TierOptions.Trusted } },
        Fabric = new FabricOptions
        {
            Jid = hostJid,
            Server = $"{prosody.Address}:{prosody.Port}",
            PasswordFile = passwordFile,
            Admins = [controlJid],
            StatusInterval = TimeSpan.FromMilliseconds(100),
        },
    }, ImageCatalog.ForStateDir);
    await agent.StartAsync();
    using var local = new HostClient(Path.Combine(state, "agent.sock"));

    var port = FreePort();
    var options = new ControlOptions
    {
        Listen = $"127.0.0.1:{port}",
        StateDir = Path.Combine(root, "control"),
        Jid = controlJid,
        XmppServer = $"{prosody.Address}:{prosody.Port}",
        XmppPasswordFile = passwordFile,
        Hosts = [hostJid],
        RequestsPerSecondPerKey = 1_000_000,
    };
    control = await ControlServer.BuildAsync(options, logs: Microsoft.Extensions.Logging.Abstractions.NullLoggerProvider.Instance);
    await control.App.StartAsync();
    var adminKey = (await File.ReadAllTextAsync(control.AdminKeyPath)).Trim();
    using var api = new HttpClient { BaseAddress = new Uri($"http://{options.Listen}/") };
    api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminKey);
    await using var fabric = await FabricClient.OpenAsync(controlJid, options.XmppServer, Password, "bench");
    await fabric.WatchAsync(hostJid);
    await Until(async () => (await api.GetFromJsonAsync<JsonElement>("v1/hosts")).GetArrayLength() == 1, "the control plane sees the host");

    if (mode is "claim" or "all")
    {
        var socket = new List<double>();
        var overFabric = new List<double>();
        var overApi = new List<double>();
        var apiHostPart = new List<double>();
        for (int i = 0; i < runs; i++)
        {
            // Each claim takes the one warm sandbox; the refill is waited for outside the timed window.
            await Ready(local);
            var sw = Stopwatch.StartNew();
            var c = await local.ClaimAsync(new SandboxSpec { Name = $"s{i}" });
            socket.Add(sw.Elapsed.TotalMilliseconds);
            Check(c.FromPool, "socket");
            await local.DestroyAsync(c.Sandbox.Id);

            await Ready(local);
            sw.Restart();
            var f = await fabric.ClaimAsync(hostJid, new SandboxSpec { Name = $"f{i}" });
            overFabric.Add(sw.Elapsed.TotalMilliseconds);
            Check(f.FromPool, "fabric");
            await local.DestroyAsync(f.Sandbox.Id);

            await Ready(local);
            sw.Restart();
            var r = await api.PostAsJsonAsync("v1/sandboxes", new { });
            var answer = await r.Content.ReadFromJsonAsync<JsonElement>();
            overApi.Add(sw.Elapsed.TotalMilliseconds);
            Check(r.IsSuccessStatusCode && answer.GetProperty("fromPool").GetBoolean(), "api: " + answer);
            apiHostPart.Add(answer.GetProperty("hostElapsedMs").GetDouble());
            await api.DeleteAsync($"v1/sandboxes/{answer.GetProperty("sandbox").GetProperty("id").GetString()}");
        }

        Console.WriteLine();
        Console.WriteLine($"## Warm claim, {runs} runs each, interleaved (load {File.ReadAllText("/proc/loadavg").Split(' ')[0]} at end)");
        Console.WriteLine();
        Console.WriteLine("| path (timer spans: request sent → answer read by the caller) | p50 ms | p99 ms | p50 vs socket |");
        Console.WriteLine("|---|---|---|---|");
        Row("host's local socket (HostClient.ClaimAsync)", socket, P(socket, 50));
        Row("XMPP fabric alone (FabricClient.ClaimAsync via Prosody)", overFabric, P(socket, 50));
        Row("HTTP API → control plane → fabric → agent (POST /v1/sandboxes)", overApi, P(socket, 50));
        Row("  of which the agent's own claim (hostElapsedMs)", apiHostPart, P(socket, 50));
    }

    if (mode is "list" or "all")
    {
        // Sandboxes written straight into the store (the list reads the store, not the hosts).
        await using (var store = await SqliteControlStore.OpenAsync(options.StorePath))
        {
            for (int i = 0; i < count; i++)
            {
                await store.AddSandboxAsync(new SandboxRecord(Names.NewSandboxId(), "admin", $"n{i}", hostJid + "/agent", "busybox", "trusted", "running", "container",
                    $"198.19.{200 + (i / 250)}.{(i % 250) + 2}", false, DateTimeOffset.UtcNow));
            }
        }

        var n = (await api.GetFromJsonAsync<JsonElement>("v1/sandboxes")).GetArrayLength();
        Console.WriteLine();
        Console.WriteLine($"## GET under wrk -t2 -c16 -d{seconds}s, {n} sandboxes listed per request");
        Console.WriteLine();
        Console.WriteLine("| request | requests/s | p50 ms | p99 ms | errors | load at end |");
        Console.WriteLine("|---|---|---|---|---|---|");
        await Wrk($"http://{options.Listen}/v1/sandboxes", adminKey, $"GET /v1/sandboxes ({n} sandboxes, authenticated, JSON)");
        await Wrk($"http://{options.Listen}/healthz", null, "GET /healthz on the same server (floor: Kestrel + middleware, no key, no store)");
    }
}
finally
{
    if (control is not null)
    {
        await control.App.StopAsync();
        await control.App.DisposeAsync();
    }

    if (agent is not null)
    {
        var sandboxes = agent.Services.GetRequiredService<SandboxService>();
        foreach (var s in sandboxes.List())
        {
            await sandboxes.DestroyAsync(s.Id);
        }

        await agent.StopAsync();
        await agent.DisposeAsync();
    }

    await prosody.DisposeAsync();
    await Sh("ip", "netns", "del", hostNs);
    Directory.Delete(root, recursive: true);
}

return 0;

async Task Wrk(string url, string? key, string label)
{
    // The key goes into wrk through its script (0600 in this run's 0700 folder), never through argv.
    var script = Path.Combine(root, "bench.lua");
    var header = key is null ? string.Empty : $"wrk.headers[\"Authorization\"] = \"Bearer {key}\"\n";
    await File.WriteAllTextAsync(script, header + """
        done = function(summary, latency, requests)
          local e = summary.errors
          io.write(string.format('{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d,"non2xx":%d}\n',
            summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
            e.connect + e.read + e.write + e.timeout + e.status, e.status))
        end
        """);
    File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    var argv = new List<string> { "-t2", "-c16", $"-d{seconds}s", "-s", script };
    argv.Add(url);
    var psi = new ProcessStartInfo("wrk", argv) { RedirectStandardOutput = true };
    using var p = Process.Start(psi)!;
    var output = await p.StandardOutput.ReadToEndAsync();
    await p.WaitForExitAsync();
    var line = output.Split('\n').Last(l => l.StartsWith('{'));
    var j = JsonDocument.Parse(line).RootElement;
    var rps = j.GetProperty("requests").GetDouble() / (j.GetProperty("duration_us").GetDouble() / 1e6);
    Console.WriteLine(FormattableString.Invariant(
        $"| {label} | {rps:F0} | {j.GetProperty("p50_us").GetDouble() / 1000:F2} | {j.GetProperty("p99_us").GetDouble() / 1000:F2} | {j.GetProperty("errors").GetInt64()} | {File.ReadAllText("/proc/loadavg").Split(' ')[0]} |"));
}

static async Task Ready(HostClient local) =>
    await Until(async () => (await local.PoolAsync()).All(p => p.Ready >= p.Target), "the warm pool is refilled");

static async Task Until(Func<Task<bool>> condition, string what)
{
    var sw = Stopwatch.StartNew();
    while (!await condition())
    {
        if (sw.Elapsed > TimeSpan.FromSeconds(60))
        {
            throw new TimeoutException("timed out waiting until " + what);
        }

        await Task.Delay(5);
    }
}

static void Check(bool ok, string what)
{
    if (!ok)
    {
        throw new InvalidOperationException("a claim did not come from the warm pool: " + what);
    }
}

static double P(List<double> xs, double p)
{
    var s = xs.Order().ToList();
    return s[Math.Clamp((int)Math.Ceiling(p / 100 * s.Count) - 1, 0, s.Count - 1)];
}

static void Row(string label, List<double> xs, double socketP50) =>
    Console.WriteLine(FormattableString.Invariant($"| {label} | {P(xs, 50):F2} | {P(xs, 99):F2} | {P(xs, 50) / socketP50:F2}× |"));

static int FreePort()
{
    using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
    l.Start();
    return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
}

static async Task Sh(string file, params string[] argv)
{
    using var p = Process.Start(new ProcessStartInfo(file, argv) { RedirectStandardError = true })!;
    await p.WaitForExitAsync();
}
