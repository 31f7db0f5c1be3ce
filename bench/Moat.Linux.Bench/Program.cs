using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.Versioning;
using Moat.Linux.Namespaces;
using Moat.Linux.Netlink;
using Moat.Linux.Plumbing;

[assembly: SupportedOSPlatform("linux")]

// Macro benchmark: one sandbox's network plumbing by Moat.Linux (in-process rtnetlink) against the same
// plumbing by iproute2 in batch mode, interleaved in one run. Usage: Moat.Linux.Bench [runs=200]
// Names start with "mtlb", addresses come from 198.19.250.0/24; everything made is removed at the end.
var runs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 200;
const int warmup = 5;
const string sandboxName = "mtlbs0";
const string hostInterface = "mtlbv0";
const string address = "198.19.250.20";

var scripts = Directory.CreateTempSubdirectory("mtlbench");
var upSame = Script(scripts, "up-same.sh", $"""
    #!/bin/bash
    # The SandboxLink plumbing by iproute2: netns, veth born in it, the host end's settings while it is down (IPv6 off,
    # no redirects, no gratuitous ARP: Moat.Linux/Plumbing/HostEnd.cs), up, /32, gateway + default route, proxy ARP.
    set -e
    ip netns add {sandboxName}
    ip link add {hostInterface} type veth peer name eth0 netns {sandboxName}
    c6=/proc/sys/net/ipv6/conf/{hostInterface}; c4=/proc/sys/net/ipv4/conf/{hostInterface}
    for k in accept_ra accept_redirects autoconf accept_dad proxy_ndp; do echo 0 > $c6/$k; done
    echo 1 > $c6/disable_ipv6
    for k in arp_accept proxy_arp_pvlan accept_redirects secure_redirects send_redirects accept_source_route accept_local route_localnet bc_forwarding; do echo 0 > $c4/$k; done
    echo 1 > $c4/drop_gratuitous_arp
    echo 1 > $c4/forwarding
    echo 1 > $c4/proxy_arp
    echo 0 > /proc/sys/net/ipv4/neigh/{hostInterface}/proxy_delay
    ip -batch - <<B
    link set {hostInterface} up
    route add {address}/32 dev {hostInterface} scope link
    B
    ip -n {sandboxName} -batch - <<B
    link set lo up
    link set eth0 up
    addr add {address}/32 dev eth0
    route add 169.254.1.1/32 dev eth0 scope link
    route add default via 169.254.1.1 dev eth0 onlink
    B
    """);
var upPeer = Script(scripts, "net-up3.sh", $"""
    #!/bin/bash
    # peer-baselines net-up3.sh as published, with this project's names and range.
    set -e
    n=$1; h=$2; c=$3
    ip netns add mtlb$n
    ip -batch - <<B
    link add mtlbh$n type veth peer name mtlbc$n netns mtlb$n
    addr add $h/30 dev mtlbh$n
    link set mtlbh$n up
    B
    ip -n mtlb$n -batch - <<B
    addr add $c/30 dev mtlbc$n
    link set lo up
    link set mtlbc$n up
    route add default via $h
    B
    """);
var downPeer = Script(scripts, "net-down.sh", """
    #!/bin/bash
    ip link del mtlbh$1
    ip netns del mtlb$1
    """);
var downSame = Script(scripts, "down-same.sh", $"""
    #!/bin/bash
    ip link del {hostInterface}
    ip netns del {sandboxName}
    """);

var results = new Dictionary<string, List<double>>();
void Add(string key, double ms)
{
    if (!results.TryGetValue(key, out var list))
    {
        results[key] = list = [];
    }

    list.Add(ms);
}

using var host = RtNetlink.Open();
Cleanup();
try
{
    var ip = IPAddress.Parse(address);
    for (var i = 0; i < warmup + runs; i++)
    {
        var record = i >= warmup;
        var watch = Stopwatch.StartNew();
        var link = SandboxLink.Prepare(host, sandboxName, hostInterface);
        var prepared = watch.Elapsed.TotalMilliseconds;
        link.Assign(ip);
        var assigned = watch.Elapsed.TotalMilliseconds;
        watch.Restart();
        link.Destroy();
        var destroyed = watch.Elapsed.TotalMilliseconds;

        var sameUp = Time(upSame);
        var sameDown = Time(downSame);
        var peerUp = Time(upPeer, "np", "198.19.250.29", "198.19.250.30");
        var peerDown = Time(downPeer, "np");
        var forkExec = Time("/bin/true");

        // The fast teardown: retire, then let the kernel free the pair when the namespace dies.
        var retiring = SandboxLink.Create(host, sandboxName, hostInterface, ip);
        watch.Restart();
        retiring.Retire();
        var retired = watch.Elapsed.TotalMilliseconds;

        watch.Restart();
        NetworkNamespace.Create(sandboxName).Dispose();
        var nsCreate = watch.Elapsed.TotalMilliseconds;
        watch.Restart();
        NetworkNamespace.Delete(sandboxName);
        var nsDelete = watch.Elapsed.TotalMilliseconds;

        host.CreateVeth(new VethSpec("mtlbf0", "mtlbf1") { Up = true });
        watch.Restart();
        host.DeleteLink("mtlbf0");
        var vethDelete = watch.Elapsed.TotalMilliseconds;

        // Outside the window: free the pair retired above before the next round (its namespace is gone already).
        SandboxLink.ReapRetired(host);

        if (record)
        {
            Add("moat.prepare", prepared);
            Add("moat.assign", assigned - prepared);
            Add("moat.up", assigned);
            Add("moat.destroy", destroyed);
            Add("moat.retire", retired);
            Add("ip.same.up", sameUp);
            Add("ip.same.down", sameDown);
            Add("ip.peer.up", peerUp);
            Add("ip.peer.down", peerDown);
            Add("floor.netns", nsCreate);
            Add("floor.forkexec", forkExec);
            Add("floor.netns.del", nsDelete);
            Add("floor.veth.del", vethDelete);
        }
    }

    // Tearing down many at once (host shutdown, relocation): 20 rounds of 10 sandboxes, one group deletion each.
    const int groupSize = 10;
    for (var round = 0; round < 20; round++)
    {
        var links = Enumerable.Range(0, groupSize)
            .Select(j => SandboxLink.Create(host, $"mtlbm{j}", $"mtlbw{j}", IPAddress.Parse($"198.19.250.{100 + j}")))
            .ToList();
        var watch = Stopwatch.StartNew();
        SandboxLink.Destroy(host, links);
        Add("moat.destroy.many", watch.Elapsed.TotalMilliseconds / groupSize);
    }
}
finally
{
    Cleanup();
    scripts.Delete(recursive: true);
}

double P(string key, double q)
{
    var sorted = results[key].Order().ToArray();
    return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
}

string F(double v) => v.ToString("0.00", CultureInfo.InvariantCulture);

Console.WriteLine($"Moat.Linux plumbing, {runs} runs after {warmup} warm-up, {DateTime.UtcNow:yyyy-MM-dd}, {Environment.ProcessorCount} cores, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
Console.WriteLine();
Console.WriteLine("| operation | Moat.Linux p50 / p99 (ms) | iproute2, same plumbing p50 / p99 (ms) | ratio p50 | net-up3.sh / net-down.sh as published p50 / p99 (ms) |");
Console.WriteLine("|---|---|---|---|---|");
Console.WriteLine($"| sandbox up: Prepare + Assign | {F(P("moat.up", .5))} / {F(P("moat.up", .99))} | {F(P("ip.same.up", .5))} / {F(P("ip.same.up", .99))} | {F(P("ip.same.up", .5) / P("moat.up", .5))}x faster | {F(P("ip.peer.up", .5))} / {F(P("ip.peer.up", .99))} |");
Console.WriteLine($"| of which Prepare (netns + veth + host-end settings, IPv6 off, while down + up + proxy ARP) | {F(P("moat.prepare", .5))} / {F(P("moat.prepare", .99))} | | | |");
Console.WriteLine($"| of which Assign (address + 3 routes) | {F(P("moat.assign", .5))} / {F(P("moat.assign", .99))} | | | |");
Console.WriteLine($"| sandbox down: Destroy (link del + netns del) | {F(P("moat.destroy", .5))} / {F(P("moat.destroy", .99))} | {F(P("ip.same.down", .5))} / {F(P("ip.same.down", .99))} | {F(P("ip.same.down", .5) / P("moat.destroy", .5))}x faster | {F(P("ip.peer.down", .5))} / {F(P("ip.peer.down", .99))} |");
Console.WriteLine($"| sandbox down, fast: Retire (down + rename + netns unlink; kernel frees the pair later) | {F(P("moat.retire", .5))} / {F(P("moat.retire", .99))} | {F(P("ip.same.down", .5))} / {F(P("ip.same.down", .99))} | {F(P("ip.same.down", .5) / P("moat.retire", .5))}x faster | |");
Console.WriteLine($"| sandbox down, 10 at once: Destroy(host, links), per sandbox | {F(P("moat.destroy.many", .5))} / {F(P("moat.destroy.many", .99))} | {F(P("ip.same.down", .5))} / {F(P("ip.same.down", .99))} (one at a time) | {F(P("ip.same.down", .5) / P("moat.destroy.many", .5))}x faster | |");
Console.WriteLine($"| floor: fork+exec /bin/true from this process (each ip/bash process pays it; 0.60 ms on a quiet machine) | {F(P("floor.forkexec", .5))} / {F(P("floor.forkexec", .99))} | | | |");
Console.WriteLine($"| floor: create an empty named netns (unshare + bind mount) | {F(P("floor.netns", .5))} / {F(P("floor.netns", .99))} | | | |");
Console.WriteLine($"| floor: delete an empty named netns (umount + unlink) | {F(P("floor.netns.del", .5))} / {F(P("floor.netns.del", .99))} | | | |");
Console.WriteLine($"| floor: delete one veth pair, both ends in the root netns (RTM_DELLINK) | {F(P("floor.veth.del", .5))} / {F(P("floor.veth.del", .99))} | | | |");
return 0;

static string Script(DirectoryInfo dir, string name, string text)
{
    var path = Path.Combine(dir.FullName, name);
    File.WriteAllText(path, text.Replace("\r", "", StringComparison.Ordinal) + "\n");
    File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    return path;
}

static double Time(string script, params string[] args)
{
    var start = new ProcessStartInfo(script) { RedirectStandardError = true };
    foreach (var a in args)
    {
        start.ArgumentList.Add(a);
    }

    var watch = Stopwatch.StartNew();
    using var process = Process.Start(start)!;
    var stderr = process.StandardError.ReadToEnd();
    process.WaitForExit();
    var elapsed = watch.Elapsed.TotalMilliseconds;
    if (process.ExitCode != 0)
    {
        throw new InvalidOperationException($"{script} {string.Join(' ', args)} exited {process.ExitCode}: {stderr}");
    }

    return elapsed;
}

void Cleanup()
{
    host.DeleteLink("mtlbf0");
    SandboxLink.ReapRetired(host);
    SandboxLink.Destroy(host, [.. Enumerable.Range(0, 10).Select(j => ($"mtlbm{j}", $"mtlbw{j}"))]);
    foreach (var (name, link) in new[] { (sandboxName, hostInterface), ("mtlbnp", "mtlbhnp") })
    {
        host.DeleteLink(link);
        NetworkNamespace.Delete(name);
    }
}
