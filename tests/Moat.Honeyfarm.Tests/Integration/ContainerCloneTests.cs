using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Moat.Honeyfarm.Clones;
using Moat.Images.Store;
using Moat.Linux.Namespaces;

namespace Moat.Honeyfarm.Tests.Integration;

/// <summary>
/// Clones as real sandboxes: runc containers over a busybox reference image, each with its own host name and
/// machine id, answering in the farm; a clone its caller changed is kept with its file changes and leftover
/// processes, an untouched one leaves nothing behind.
/// </summary>
[Trait("Category", "Integration")]
[Collection(ContainerCloneTests.Name)]
public sealed class ContainerCloneTests : IAsyncLifetime
{
    public const string Name = "container clones";
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly string _state = Path.Combine(Path.GetTempPath(), "moat-hf-ct-" + Guid.NewGuid().ToString("N")[..8]);
    private string _image = "";

    public async Task InitializeAsync()
    {
        var store = ImageStore.Open(Path.Combine(_state, "images"));
        _image = store.RootfsPath(await store.BuildBusyboxAsync());
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_state, recursive: true);
        return Task.CompletedTask;
    }

    private Task<FarmTopology> FarmAsync(TimeSpan idle, long diskBytes = 64L << 20, int maxClones = 4, Moat.Honeyfarm.Containment.ExportPolicy export = Moat.Honeyfarm.Containment.ExportPolicy.Reflect, string runtime = "runc") => FarmTopology.CreateAsync(o => o with
    {
        Export = export,
        WarmClones = 1,
        MaxClones = maxClones,
        IdleTimeout = idle,
        Personality = new Personality("busybox-server", [23, 80], [], "Debian GNU/Linux 12"),
        Containers = new ContainerCloneOptions
        {
            ImageRootfs = _image,
            StateDir = Path.Combine(_state, "farm"),
            InitBinary = Path.Combine(AppContext.BaseDirectory, "moat-init"),
            DiskBytes = diskBytes,
            Runtime = runtime,
        },
    });

    [Fact]
    public async Task A_clone_is_a_container_with_its_own_identity_and_a_changed_one_is_kept_with_what_changed()
    {
        await using var farm = await FarmAsync(TimeSpan.FromMinutes(5));
        var a = IPAddress.Parse("198.18.140.10");
        var b = IPAddress.Parse("198.18.140.11");

        // The caller gets the banner, the clone's description, then a shell inside the clone.
        var session = await ShellAsync(farm.Inet, a, 23, "hostname; cat /etc/machine-id; echo planted > /tmp/implant; rm /etc/group; cp /bin/busybox /tmp/tool; /tmp/tool true; sleep 600 </dev/null >/dev/null 2>&1 & exit");
        Assert.StartsWith("Debian GNU/Linux 12", session);
        var describe = session.Split('\n')[1];
        Assert.Contains("address=198.18.140.10", describe);
        var host = Field(describe, "host");
        var machineId = Field(describe, "machine-id");
        Assert.Contains("\n" + host + "\n", session); // `hostname` inside: the clone's own name
        Assert.Contains("\n" + machineId + "\n", session); // its own /etc/machine-id

        // Another address is another clone, not alike.
        var other = await ShellAsync(farm.Inet, b, 23, "exit");
        Assert.NotEqual(machineId, Field(other.Split('\n')[1], "machine-id"));
        // Port 80 of the same clone: busybox httpd of the image, serving the clone's page.
        Assert.Contains(host, await HttpAsync(farm.Inet, a));

        // The universe is closed: both clones are retired; only the changed one is kept, with its account.
        Assert.True(await farm.Gateway.CloseUniverseAsync(Assert.Single(farm.Gateway.Universes()).Id));
        Assert.Empty(farm.Gateway.Universes());
        var kept = Assert.Single(farm.Gateway.KeptClones);
        Assert.Contains("address=198.18.140.10", kept.Describe);
        Assert.Contains(kept.Files, f => f.Path == "/tmp/implant" && f.Change == "added" && f.Sha256 == Sha256("planted\n"));
        Assert.Contains(kept.Files, f => f.Path == "/etc/group" && f.Change == "deleted");
        Assert.DoesNotContain(kept.Files, f => f.Path is "/etc/hostname" or "/etc/machine-id" || f.Path.StartsWith(ContainerServices.SetupDir, StringComparison.Ordinal));
        Assert.Contains(kept.Processes, p => p.Contains("sleep 600", StringComparison.Ordinal));
        // What it ran, recorded from outside by the exec monitor: the dropped program as drift, the image's as not.
        Assert.Null(kept.ExecMonitoring);
        Assert.Contains(kept.Execs!, e => e.Path == "/tmp/tool" && e.Drift == true && e.Sha256 == Sha256File(Path.Combine(_image, "bin", "busybox")));
        Assert.Contains(kept.Execs!, e => e.Argv.SequenceEqual(["sleep", "600"]) && e.Drift == false);
        Assert.Equal(1, farm.Gateway.Counters.ClonesKept);

        // On disk: the upper layer as a tar and the account as JSON; the untouched clone left no folder.
        var account = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(kept.Folder, "clone.json"))).RootElement;
        Assert.Equal(kept.Name, account.GetProperty("name").GetString());
        Assert.True(File.Exists(Path.Combine(kept.Folder, "filesystem-changes.tar")));
        Assert.Single(Directory.GetDirectories(Path.Combine(_state, "farm", "clones"))); // the warm clone's

        // The attacker's next packet opens a new universe with a fresh clone at the same address.
        var again = await ShellAsync(farm.Inet, a, 23, "exit");
        Assert.NotEqual(machineId, Field(again.Split('\n')[1], "machine-id"));
        Assert.NotEqual(kept.Describe, again.Split('\n')[1]);
    }

    [Fact]
    public async Task A_worm_that_spreads_by_scanning_is_reflected_into_its_universe_and_nothing_reaches_the_internet()
    {
        await using var farm = await FarmAsync(TimeSpan.FromMinutes(5), maxClones: 10);
        await using var capture = await Capture.StartAsync(farm.Inet.Name, "eth0", "src net " + FarmTopology.Dark);
        var a = IPAddress.Parse("198.18.210.1");

        // A worm in three generations: each machine marks itself and scans a range for port 23, sending the next
        // generation to every address that answers. Generation 1 (on A) scans 198.18.211.1-3 and also the test
        // internet's innocent host 198.18.96.4; generation 2 scans 198.18.212.1-2; generation 3 only marks.
        const string gen3 = "echo infected > /tmp/infected; exit";
        var gen2 = $"echo infected > /tmp/infected; for i in 1 2; do echo '{gen3}' | nc -w 2 198.18.212.$i 23 >/dev/null; done; exit";
        var gen1 = $"echo infected > /tmp/infected; for t in 198.18.211.1 198.18.211.2 198.18.211.3 {FarmTopology.Victim}; do echo \"{gen2.Replace("$", "\\$", StringComparison.Ordinal)}\" | nc -w 2 $t 23 >/dev/null; done; exit";
        var session = await ShellAsync(farm.Inet, a, 23, gen1);
        Assert.Contains("address=198.18.210.1", session);

        var universe = Assert.Single(farm.Gateway.Universes());
        Assert.Equal(FarmTopology.Attacker1, universe.Attacker);
        var second = new[] { "198.18.211.1", "198.18.211.2", "198.18.211.3" }.Select(IPAddress.Parse).ToArray();
        var third = new[] { "198.18.212.1", "198.18.212.2" }.Select(IPAddress.Parse).ToArray();
        Assert.All(second, b => Assert.Contains((a, b), universe.Infections));
        Assert.Contains((a, FarmTopology.Victim), universe.Infections); // reflected: a clone of this universe took the victim's address
        Assert.All(third, c => Assert.Contains(universe.Infections, i => i.To.Equals(c) && second.Contains(i.From)));
        Assert.True(new HashSet<IPAddress>([a, .. second, .. third, FarmTopology.Victim]).SetEquals(universe.Clones.Select(x => x.Address)),
            string.Join(", ", universe.Clones.Select(x => x.Address)));

        // Closing the universe keeps every infected machine (the victim's stand-in only ran the worm's shell: it
        // got generation 2 and marked itself too), each with its mark.
        Assert.True(await farm.Gateway.CloseUniverseAsync(universe.Id));
        var kept = farm.Gateway.KeptClones;
        Assert.Equal(1 + second.Length + third.Length + 1, kept.Count);
        Assert.All(kept, k => Assert.Contains(k.Files, f => f.Path == "/tmp/infected" && f.Change == "added"));
        Assert.Contains(kept, k => k.Describe.Contains("address=198.18.210.1", StringComparison.Ordinal) && k.Execs!.Any(e => e.Argv.Count > 0 && e.Argv[0] == "nc"));

        // The internet side saw the farm answer the attacker and nothing else: no packet to the victim, no new SYN.
        foreach (var line in await capture.StopAsync())
        {
            var m = Capture.Packet().Match(line);
            Assert.True(m.Success, line);
            Assert.Equal(FarmTopology.Attacker1.ToString(), m.Groups["dst"].Value);
            Assert.NotEqual("S", m.Groups["flags"].Value);
        }
    }

    [Fact]
    public async Task A_gvisor_clone_is_bound_late_runs_its_caller_on_gvisor_s_kernel_and_is_kept_when_changed()
    {
        await using var farm = await FarmAsync(TimeSpan.FromMinutes(5), runtime: "runsc");
        var session = await ShellAsync(farm.Inet, IPAddress.Parse("198.18.145.1"), 23, "uname -r; dmesg 2>&1 | head -1; echo planted > /tmp/implant; exit");
        Assert.Contains("address=198.18.145.1", session); // the address given at the claim, after the sandbox started
        var lines = session.Split('\n');
        // gVisor's own kernel answers uname and dmesg, not the host's.
        Assert.DoesNotContain(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), lines);
        Assert.Contains(lines, l => l.Contains("gVisor", StringComparison.Ordinal) || l.StartsWith("[", StringComparison.Ordinal));

        Assert.True(await farm.Gateway.CloseUniverseAsync(Assert.Single(farm.Gateway.Universes()).Id));
        var kept = Assert.Single(farm.Gateway.KeptClones);
        Assert.Contains(kept.Files, f => f.Path == "/tmp/implant" && f.Change == "added");
        // What it ran, as gVisor's own kernel reported it (the host kernel saw none of it).
        Assert.Contains("runsc trace", kept.ExecMonitoring);
        Assert.True(kept.Execs!.Any(e => e.Argv.Count > 0 && e.Argv[0] == "dmesg" && e.Verification == nameof(Moat.Monitor.VerificationStatus.ReportedBySandboxKernel)), string.Join(" | ", kept.Execs!.Select(e => string.Join(" ", e.Argv))));
    }

    [Fact]
    public async Task A_clone_that_only_tried_to_reach_out_is_kept_and_one_that_did_nothing_is_not()
    {
        await using var farm = await FarmAsync(TimeSpan.FromMinutes(5), export: Moat.Honeyfarm.Containment.ExportPolicy.Block);
        await ShellAsync(farm.Inet, IPAddress.Parse("198.18.144.1"), 23, $"nc -w 1 {FarmTopology.Victim} 25 </dev/null; exit");
        await ShellAsync(farm.Inet, IPAddress.Parse("198.18.144.2"), 23, "exit");
        Assert.True(await farm.Gateway.BlockedPacketsAsync() > 0);

        Assert.True(await farm.Gateway.CloseUniverseAsync(Assert.Single(farm.Gateway.Universes()).Id));
        var kept = Assert.Single(farm.Gateway.KeptClones);
        Assert.Contains("address=198.18.144.1", kept.Describe);
        Assert.True(kept.AttemptedOutbound);
        Assert.Empty(kept.Files);
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public async Task A_setuid_file_an_intruder_plants_in_a_clone_gives_local_users_nothing()
    {
        await using var farm = await FarmAsync(TimeSpan.FromMinutes(5));
        var session = await ShellAsync(farm.Inet, IPAddress.Parse("198.18.143.1"), 23, "cp /bin/busybox /tmp/s && chmod 4755 /tmp/s && echo planted; sleep 600 </dev/null >/dev/null 2>&1 & exit");
        Assert.Contains("planted", session);
        var farmDir = Path.Combine(_state, "farm");
        var planted = Directory.GetDirectories(Path.Combine(farmDir, "clones")).Select(c => Path.Combine(c, "rootfs", "tmp", "s")).Single(File.Exists);

        // The farm's folder is root's alone, and the clone's mounts on the host run nothing setuid.
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(farmDir));
        var (code, _) = await RunAsync("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", "test", "-e", planted);
        Assert.NotEqual(0, code);
        var rootfs = Path.GetDirectoryName(Path.GetDirectoryName(planted))!;
        foreach (var m in Moat.Linux.Mounts.MountTable.List(Path.GetDirectoryName(rootfs)))
        {
            Assert.Contains("nosuid", m.Options.Split(','));
            Assert.Contains("nodev", m.Options.Split(','));
        }
    }

    private static async Task<(int Code, string Output)> RunAsync(string file, params string[] args)
    {
        using var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = await p.StandardOutput.ReadToEndAsync() + await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, output);
    }

    [Fact]
    public async Task A_clone_that_fills_its_disk_or_kills_its_own_services_harms_nothing_else()
    {
        const long disk = 16L << 20;
        await using var farm = await FarmAsync(TimeSpan.FromMinutes(5), disk);
        var filler = IPAddress.Parse("198.18.142.1");
        var killer = IPAddress.Parse("198.18.142.2");
        long hostFreeBefore = new DriveInfo(_state).AvailableFreeSpace;

        var fill = await ShellAsync(farm.Inet, filler, 23, "dd if=/dev/zero of=/tmp/fill bs=1M count=64 2>&1; echo rc=$?");
        Assert.Contains("No space left", fill);
        Assert.DoesNotContain("rc=0", fill);
        // The clone's writable layer is its own bounded tmpfs: the host's file system did not take the 64 MiB.
        Assert.True(hostFreeBefore - new DriveInfo(_state).AvailableFreeSpace < disk, "the clone's writes reached the host's disk");

        // A clone that kills every process of its own (but its init) stops answering; the farm goes on.
        await ShellAsync(farm.Inet, killer, 23, "kill -9 -1");
        var neighbour = await ShellAsync(farm.Inet, IPAddress.Parse("198.18.142.3"), 23, "echo alive");
        Assert.Contains("alive", neighbour);
        Assert.Contains("alive", await ShellAsync(farm.Inet, filler, 23, "echo alive"));

        Assert.True(await farm.Gateway.CloseUniverseAsync(Assert.Single(farm.Gateway.Universes()).Id));
        var kept = Assert.Single(farm.Gateway.KeptClones);
        var filled = Assert.Single(kept.Files, f => f.Path == "/tmp/fill");
        Assert.True(filled.Bytes is > 0 and < disk, $"{filled.Bytes} bytes kept");
        Assert.Single(Directory.GetDirectories(Path.Combine(_state, "farm", "clones"))); // only the warm clone's: the three retired clones left no folder
    }

    [Fact]
    public async Task Clones_a_stopped_gateway_left_behind_are_reclaimed_and_a_changed_one_is_kept()
    {
        // Two clones started as a gateway would, then abandoned (as by a gateway killed mid-run): one was written to.
        var options = new ContainerCloneOptions
        {
            ImageRootfs = _image,
            StateDir = Path.Combine(_state, "crashed"),
            InitBinary = Path.Combine(AppContext.BaseDirectory, "moat-init"),
        };
        var factory = ContainerServices.Factory(options);
        var suffix = Guid.NewGuid().ToString("N")[..6];
        var namespaces = new[] { NetworkNamespace.Create("hfr" + suffix + "a"), NetworkNamespace.Create("hfr" + suffix + "b") };
        try
        {
            var personality = new Personality("p", [23], [], "banner");
            var touched = await factory(namespaces[0], namespaces[0].Name, personality, CloneIdentity.Create(new Random(1)), () => "host=x universe=3 address=198.18.143.1", CancellationToken.None);
            await factory(namespaces[1], namespaces[1].Name, personality, CloneIdentity.Create(new Random(2)), () => "host=y", CancellationToken.None);
            await File.WriteAllTextAsync(Path.Combine(options.StateDir, "clones", namespaces[0].Name, "rootfs", "root", "payload"), "x");

            var kept = await ContainerServices.ReclaimAsync(options);

            var k = Assert.Single(kept);
            Assert.Equal(namespaces[0].Name, k.Name);
            Assert.Contains("address=198.18.143.1", k.Describe);
            Assert.Equal(["/root/payload"], k.Files.Select(f => f.Path));
            Assert.Empty(Directory.GetDirectories(Path.Combine(options.StateDir, "clones")));
            Assert.DoesNotContain(Path.Combine(options.StateDir, "clones"), await File.ReadAllTextAsync("/proc/self/mountinfo"), StringComparison.Ordinal);
            Assert.All(namespaces, ns => Assert.False(NetworkNamespace.Exists(ns.Name), $"{ns.Name} outlived the reclaim"));
            await touched.DisposeAsync(); // already gone: disposing again is harmless
        }
        finally
        {
            foreach (var ns in namespaces)
            {
                ns.Dispose();
                NetworkNamespace.Delete(ns.Name);
            }
        }
    }

    [Fact]
    public async Task Disposing_the_gateway_removes_every_container_mount_and_clone_folder()
    {
        var farm = await FarmAsync(TimeSpan.FromMinutes(5));
        try
        {
            await ShellAsync(farm.Inet, IPAddress.Parse("198.18.141.1"), 23, "exit");
        }
        finally
        {
            await farm.DisposeAsync();
        }

        Assert.Empty(Directory.GetDirectories(Path.Combine(_state, "farm", "clones")));
        Assert.DoesNotContain(Path.Combine(_state, "farm"), await File.ReadAllTextAsync("/proc/self/mountinfo"), StringComparison.Ordinal);
        var runc = Path.Combine(_state, "farm", "runc");
        Assert.True(!Directory.Exists(runc) || Directory.GetDirectories(runc).Length == 0, "runc still holds containers");
    }

    private static string Field(string describe, string name) =>
        describe.Split(' ').Single(f => f.StartsWith(name + "=", StringComparison.Ordinal))[(name.Length + 1)..];

    private static string Sha256File(string path) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)));

    private static string Sha256(string text) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.ASCII.GetBytes(text)));

    /// <summary>Connects from the first attacker, sends the commands (then end of input), and returns all the clone said until it closed.</summary>
    private static Task<string> ShellAsync(NetworkNamespace ns, IPAddress address, int port, string commands) =>
        ExchangeAsync(ns, address, port, commands + "\n");

    private static Task<string> HttpAsync(NetworkNamespace ns, IPAddress address) => ExchangeAsync(ns, address, 80, "GET / HTTP/1.0\r\n\r\n");

    private static async Task<string> ExchangeAsync(NetworkNamespace ns, IPAddress address, int port, string request)
    {
        using var socket = NamespaceRunner.Run(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        socket.Bind(new IPEndPoint(FarmTopology.Attacker1, 0));
        using var timeout = new CancellationTokenSource(Deadline);
        await socket.ConnectAsync(new IPEndPoint(address, port), timeout.Token);
        await socket.SendAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None, timeout.Token);
        socket.Shutdown(SocketShutdown.Send); // a shell reads end of input and exits
        var text = new StringBuilder();
        var buffer = new byte[4096];
        int n;
        while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
        {
            text.Append(Encoding.ASCII.GetString(buffer, 0, n));
        }

        return text.ToString();
    }
}

[CollectionDefinition(ContainerCloneTests.Name, DisableParallelization = true)]
public sealed class ContainerCloneCollection;
