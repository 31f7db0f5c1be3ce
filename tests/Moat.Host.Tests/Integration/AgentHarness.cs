using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Moat.Host.Agent;
using Moat.Host.Client;
using Moat.Cli.Composition;
using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Integration;

/// <summary>
/// A real host agent for one test: its own state folder and its own "host" network namespace holding the host ends
/// of the sandboxes' veths, so no sandbox has any path to this machine's uplink. Disposing removes everything the
/// agent made, even when the test failed half-way.
/// </summary>
internal sealed class AgentHarness : IAsyncDisposable
{
    private WebApplication? _app;

    private AgentHarness(HostAgentOptions options) => Options = options;

    public HostAgentOptions Options { get; private set; }

    public HostClient Client { get; private set; } = null!;

    public string HostNs => Options.HostNamespace!;

    /// <summary>With an uplink: the namespace at its far end ("the world"), address <see cref="WorldAddress"/>.</summary>
    public string? WorldNs { get; private set; }

    public const string WorldAddress = "198.18.250.2";

    /// <summary>The host's uplink device (in <see cref="HostNs"/>) when the harness made one.</summary>
    public const string UplinkDevice = "up0";

    /// <summary>The host's address on its uplink (toward <see cref="WorldAddress"/>).</summary>
    public const string HostUplinkAddress = "198.18.250.1";

    /// <param name="uplink">A bandwidth (e.g. 100mbit): the host namespace gets an uplink up0 to a "world" namespace
    /// that routes the address pool back, and the agent shapes on it (--uplink up0=RATE).</param>
    /// <param name="tunnel">The host namespace gets the uplink to the world (which does not route the pool back), and
    /// the agent opens tunnels from <see cref="HostUplinkAddress"/> (--tunnel-address): the world plays the client.</param>
    /// <param name="authCertRoot">A root certificate (PEM file) the agent trusts for authcerts (--authcert-root).</param>
    /// <param name="world">The host namespace gets the uplink to the world, with no shaping and no tunnels.</param>
    public static async Task<AgentHarness> StartAsync(string pool = "198.19.0.0/24", IReadOnlyDictionary<string, int>? warm = null, string runtime = "runc", TierOptions? tiers = null, string? policy = null, string? uplink = null, bool tunnel = false, string? authCertRoot = null, bool world = false, StateImportOptions? stateImport = null, Func<HostAgentOptions, HostAgentOptions>? configure = null)
    {
        var tag = Guid.NewGuid().ToString("N")[..8];
        var options = new HostAgentOptions
        {
            StateDir = Path.Combine(Path.GetTempPath(), "moat-it-" + tag),
            HostNamespace = "mth" + tag,
            AddressPool = pool,
            Pool = warm ?? new Dictionary<string, int>(),
            Runtime = runtime,
            Tiers = tiers ?? TierOptions.Default,
            Uplinks = uplink is null ? [] : [$"{UplinkDevice}={uplink}"],
            TunnelAddress = tunnel ? HostUplinkAddress : null,
            AuthCertRoot = authCertRoot,
            StateImport = stateImport ?? StateImportOptions.Default,
        };
        Directory.CreateDirectory(options.StateDir);
        if (policy is not null)
        {
            // The agent finds policy.yaml in its state folder and turns containment on.
            await File.WriteAllTextAsync(Path.Combine(options.StateDir, "policy.yaml"), policy);
        }

        File.CreateSymbolicLink(Path.Combine(options.StateDir, "images"), await SharedImages.RootAsync());
        await Sh("ip", "netns", "add", options.HostNamespace);
        await Sh("ip", "-n", options.HostNamespace, "link", "set", "lo", "up");
        var h = new AgentHarness(configure?.Invoke(options) ?? options);
        try
        {
            if (uplink is not null || tunnel || world)
            {
                h.WorldNs = "mtw" + tag;
                await Sh("ip", "netns", "add", h.WorldNs);
                await Sh("ip", "-n", options.HostNamespace, "link", "add", UplinkDevice, "type", "veth", "peer", "name", "wan0", "netns", h.WorldNs);
                await Sh("ip", "-n", options.HostNamespace, "addr", "add", HostUplinkAddress + "/30", "dev", UplinkDevice);
                await Sh("ip", "-n", options.HostNamespace, "link", "set", UplinkDevice, "up");
                await Sh("ip", "-n", h.WorldNs, "addr", "add", WorldAddress + "/30", "dev", "wan0");
                await Sh("ip", "-n", h.WorldNs, "link", "set", "wan0", "up");
                if (uplink is not null)
                {
                    await Sh("ip", "-n", h.WorldNs, "route", "add", pool, "via", HostUplinkAddress);
                }
            }

            await h.StartAgentAsync();
        }
        catch
        {
            await h.DisposeAsync();
            throw;
        }

        return h;
    }

    public async Task StartAgentAsync()
    {
        _app = await HostAgent.BuildAsync(Options, ImageCatalog.ForStateDir);
        await _app.StartAsync();
        Options = Options with { StateDir = ((HostAgentOptions)_app.Services.GetService(typeof(HostAgentOptions))!).StateDir };
        Client = new HostClient(Options.SocketPath);
    }

    public T Service<T>() where T : notnull => (T)_app!.Services.GetService(typeof(T))!;

    /// <summary>Stops the agent process-internally (its sandboxes keep running), as a restart's first half.</summary>
    public async Task StopAgentAsync()
    {
        Client.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            _app = null;
        }
    }

    /// <summary>The arguments that run the `moat` CLI built beside the tests, in its own process.</summary>
    public string[] Moat(params string[] args) =>
        ["dotnet", Path.Combine(AppContext.BaseDirectory, "moat.dll"), "--state-dir", Options.StateDir, .. args];

    /// <summary>Starts `moat host` for this harness's state folder as a separate process (for crash tests).</summary>
    public Process SpawnAgent(IReadOnlyDictionary<string, string>? env = null)
    {
        var args = Moat("host", "--host-netns", HostNs, "--address-pool", Options.AddressPool);
        var psi = new ProcessStartInfo(args[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args.Skip(1))
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }

        return Process.Start(psi)!;
    }

    /// <summary>Runs a command in the host namespace (the other end of every sandbox's veth).</summary>
    public Task<(int Code, string Out)> InHostNs(params string[] args) => Sh(["ip", "netns", "exec", HostNs, .. args]);

    public async ValueTask DisposeAsync()
    {
        var ids = new List<string>();
        if (_app is not null)
        {
            ids.AddRange(Service<SandboxService>().List().Select(s => s.Id));
            foreach (var id in ids)
            {
                try
                {
                    await Service<SandboxService>().DestroyAsync(id);
                }
                catch (MoatHostException)
                {
                    // The safety net below removes by name whatever the agent could not.
                }
            }

            await StopAgentAsync();
        }

        // Safety net: whatever a failed test left, found by the names this agent gives its objects.
        var sandboxes = Path.Combine(Options.StateDir, "sandboxes");
        if (Directory.Exists(sandboxes))
        {
            ids.AddRange(Directory.EnumerateDirectories(sandboxes).Select(Path.GetFileName)!);
        }

        var runtimeRoot = Path.Combine(Options.StateDir, "runtime");
        if (Directory.Exists(runtimeRoot))
        {
            foreach (var c in Directory.EnumerateDirectories(runtimeRoot))
            {
                await Sh(Options.Runtime, "--root", runtimeRoot, "delete", "--force", Path.GetFileName(c));
                ids.Add(Path.GetFileName(c));
            }
        }

        var gvisorRoot = Path.Combine(Options.StateDir, "runtime-gvisor");
        if (Directory.Exists(gvisorRoot))
        {
            foreach (var c in Directory.EnumerateFiles(gvisorRoot, "*.state").Select(f => Path.GetFileName(f).Split('_')[0]))
            {
                // Outside the sandbox's netns runsc cannot reach it, but it still kills it by process id.
                await Sh("runsc", "--root", gvisorRoot, "delete", "--force", c);
                ids.Add(c);
            }
        }

        foreach (var id in ids.Distinct())
        {
            await Sh("umount", "-l", Path.Combine(sandboxes, id, "rootfs"));
            await Sh("umount", "-l", Path.Combine(sandboxes, id));
            await Sh("ip", "netns", "del", "moat-" + id);
            foreach (var cg in Directory.EnumerateDirectories("/sys/fs/cgroup").Select(d => Path.Combine(d, "moat", id)).Where(Directory.Exists))
            {
                try
                {
                    Directory.Delete(cg);
                }
                catch (IOException)
                {
                    // Processes still inside: nothing more a test can do.
                }
            }
        }

        await Sh("ip", "netns", "del", HostNs);
        if (WorldNs is not null)
        {
            await Sh("ip", "netns", "del", WorldNs);
        }

        if (Directory.Exists(Options.StateDir))
        {
            Directory.Delete(Options.StateDir, recursive: true);
        }
    }

    /// <summary>
    /// A one-connection TCP listener (busybox nc) in a namespace, listening when this returns. Its stdin stays open:
    /// busybox nc ends the connection when its stdin ends. The caller kills it when done.
    /// </summary>
    public static async Task<Process> ListenAsync(string ns, int port)
    {
        var p = System.Globalization.CultureInfo.InvariantCulture;
        var listener = Process.Start(new ProcessStartInfo("ip", ["netns", "exec", ns, "busybox", "nc", "-l", "-p", port.ToString(p)]) { RedirectStandardOutput = true, RedirectStandardInput = true })!;
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while ((await Sh("ip", "netns", "exec", ns, "ss", "-Hltn", "sport", "=", ":" + port.ToString(p))).Out.Trim().Length == 0)
            {
                Assert.True(DateTime.UtcNow < deadline && !listener.HasExited, $"the listener on port {port} in {ns} did not start");
                await Task.Delay(20);
            }

            return listener;
        }
        catch
        {
            listener.Kill(entireProcessTree: true);
            listener.Dispose();
            throw;
        }
    }

    /// <summary>Awaits a command (from <see cref="Sh"/> or <see cref="InHostNs"/>) that must succeed: a failure fails the
    /// test with the command's output.</summary>
    public static async Task<(int Code, string Out)> Must(Task<(int Code, string Out)> run)
    {
        var r = await run;
        Assert.True(r.Code == 0, r.Out);
        return r;
    }

    public static async Task<(int Code, string Out)> Sh(params string[] args)
    {
        var psi = new ProcessStartInfo(args[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args.Skip(1))
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEndAsync();
        var e = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, await o + await e);
    }
}
