using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Moat.Containment.Flows;
using Moat.Linux.Namespaces;
using Moat.Linux.Netlink;

namespace Moat.Containment.Bench;

/// <summary>
/// Flow log throughput and lag: a sandbox namespace opens N short TCP connections through a host namespace to an
/// "internet" namespace as fast as it can; the flow log and `conntrack -E` read the host namespace's events in the
/// same run. Figures: connections/s generated (the floor: the log cannot record faster than the kernel makes
/// flows), records/s, drain time after the last connection, lag from socket read to commit, losses.
/// </summary>
internal static class FlowsBench
{
    private const string Sandbox = "198.18.10.2";
    private const string Internet = "198.18.30.2";

    public static async Task<int> RunAsync(string[] args)
    {
        var connections = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 20_000;
        var concurrency = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 32;
        if (connections is < 1 or > 200_000 || concurrency is < 1 or > 256)
        {
            await Console.Error.WriteLineAsync("usage: Moat.Containment.Bench flows [CONNECTIONS 1..200000] [CONCURRENCY 1..256]");
            return 2;
        }

        var suffix = Random.Shared.Next(0x10000).ToString("x4", CultureInfo.InvariantCulture);
        var names = new[] { "mcbs-" + suffix, "mcbh-" + suffix, "mcbi-" + suffix };
        var dir = Path.Combine(Path.GetTempPath(), "moat-flows-bench-" + suffix);
        try
        {
            var (sbx, host, inet) = Build(names);
            using (sbx)
            using (host)
            using (inet)
            {
                return await MeasureAsync(sbx, host, inet, dir, connections, concurrency);
            }
        }
        finally
        {
            foreach (var name in names)
            {
                NetworkNamespace.Delete(name);
            }

            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    private static (NetworkNamespace Sbx, NetworkNamespace Host, NetworkNamespace Inet) Build(string[] names)
    {
        var sbx = NetworkNamespace.Create(names[0]);
        var host = NetworkNamespace.Create(names[1]);
        var inet = NetworkNamespace.Create(names[2]);
        using var s = RtNetlink.OpenIn(sbx);
        using var h = RtNetlink.OpenIn(host);
        using var i = RtNetlink.OpenIn(inet);
        foreach (var n in new[] { s, h, i })
        {
            n.SetLinkUp("lo");
        }

        h.Execute(new NetlinkBatch().AddVeth(new VethSpec("mhsbx", "eth0", sbx) { Up = true }).AddVeth(new VethSpec("up", "eth0", inet) { Up = true }));
        s.SetLinkUp("eth0");
        i.SetLinkUp("eth0");
        h.AddAddress(h.GetLinkIndex("mhsbx")!.Value, IPAddress.Parse("198.18.10.1"), 24);
        h.AddAddress(h.GetLinkIndex("up")!.Value, IPAddress.Parse("198.18.30.1"), 24);
        s.AddAddress(s.GetLinkIndex("eth0")!.Value, IPAddress.Parse(Sandbox), 24);
        i.AddAddress(i.GetLinkIndex("eth0")!.Value, IPAddress.Parse(Internet), 24);
        s.AddRoute(new RouteSpec(IPNetwork.Parse("0.0.0.0/0")) { Gateway = IPAddress.Parse("198.18.10.1") });
        i.AddRoute(new RouteSpec(IPNetwork.Parse("198.18.10.0/24")) { Gateway = IPAddress.Parse("198.18.30.1") });
        Sysctl.Write(host, "net.ipv4.ip_forward", "1");
        Sysctl.Write(host, "net.netfilter.nf_conntrack_tcp_timeout_close", "1");
        Sysctl.Write(sbx, "net.ipv4.ip_local_port_range", "10000 65000");
        Run(host, "table inet mcbench {\n  chain forward {\n    type filter hook forward priority filter; policy accept;\n    ct state new counter accept\n  }\n}\n", "nft", "-f", "-");
        return (sbx, host, inet);
    }

    private static async Task<int> MeasureAsync(NetworkNamespace sbx, NetworkNamespace host, NetworkNamespace inet, string dir, int connections, int concurrency)
    {
        var owners = new FlowAttributionTable();
        owners.Set("bench", IPAddress.Parse(Sandbox), "bench-client");
        var log = new FlowLog(new FlowLogOptions { DatabasePath = Path.Combine(dir, "flows.db"), NetworkNamespacePath = host.Path, NflogGroup = null }, owners);
        using var stop = new CancellationTokenSource();
        var run = log.RunAsync(stop.Token);
        await log.Started.WaitAsync(TimeSpan.FromSeconds(10));

        // The peer: conntrack's own event reader on the same namespace, counting NEW lines as they arrive.
        using var peer = StartIn(host, "conntrack", "-E", "-e", "NEW,DESTROY", "-o", "timestamp");
        long peerNew = 0, peerDestroy = 0;
        var peerErrors = peer.StandardError.ReadToEndAsync();
        var peerReader = Task.Run(async () =>
        {
            while (await peer.StandardOutput.ReadLineAsync() is { } line)
            {
                if (line.Contains("[NEW]", StringComparison.Ordinal))
                {
                    Interlocked.Increment(ref peerNew);
                }
                else if (line.Contains("[DESTROY]", StringComparison.Ordinal))
                {
                    Interlocked.Increment(ref peerDestroy);
                }
            }
        });
        await Task.Delay(300); // conntrack -E has subscribed once its process is running; give it the moment to bind

        using var listener = NamespaceRunner.Run(inet, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        listener.Bind(new IPEndPoint(IPAddress.Parse(Internet), 8080));
        listener.Listen(4096);
        using var acceptStop = new CancellationTokenSource();
        var acceptor = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    // The client resets the connection; the server only has to take it off the queue.
                    (await listener.AcceptAsync(acceptStop.Token)).Dispose();
                }
            }
            catch (OperationCanceledException)
            {
            }
        });

        var generate = Stopwatch.StartNew();
        var next = 0;
        var failed = 0;
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            // Sockets are made 64 at a time on a thread inside the sandbox namespace (one thread hop per 64, not per socket).
            var spare = new Queue<Socket>();
            while (Interlocked.Increment(ref next) <= connections)
            {
                if (spare.Count == 0)
                {
                    foreach (var made in NamespaceRunner.Run(sbx, () => Enumerable.Range(0, 64).Select(_ => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)).ToList()))
                    {
                        spare.Enqueue(made);
                    }
                }

                using var c = spare.Dequeue();
                c.LingerState = new LingerOption(true, 0);
                try
                {
                    await c.ConnectAsync(new IPEndPoint(IPAddress.Parse(Internet), 8080));
                }
                catch (SocketException e)
                {
                    if (Interlocked.Increment(ref failed) == 1)
                    {
                        await Console.Error.WriteLineAsync($"first failed connection: {e.SocketErrorCode} {e.Message}");
                    }
                }
            }

            while (spare.Count > 0)
            {
                spare.Dequeue().Dispose();
            }
        })));
        var generated = generate.Elapsed;
        var made = connections - failed;

        // Drain: how long after the last connection until each reader has all NEW events.
        var ours = TimeSpan.Zero;
        var theirs = TimeSpan.Zero;
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(30) && (ours == TimeSpan.Zero || theirs == TimeSpan.Zero))
        {
            if (ours == TimeSpan.Zero && log.Counters.Recorded >= made)
            {
                ours = deadline.Elapsed;
            }

            if (theirs == TimeSpan.Zero && Interlocked.Read(ref peerNew) >= made)
            {
                theirs = deadline.Elapsed;
            }

            await Task.Delay(5);
        }

        var counters = log.Counters;
        await acceptStop.CancelAsync();
        listener.Close();
        await acceptor;
        await stop.CancelAsync();
        await run;
        peer.Kill();
        await peer.WaitForExitAsync();
        await peerReader;
        var peerStderr = (await peerErrors).Trim();

        string Drain(TimeSpan t) => t == TimeSpan.Zero ? "not within 30 s" : $"{t.TotalMilliseconds:F0} ms";
        var rate = made / generated.TotalSeconds;
        Console.WriteLine($"flows: {made} TCP connections ({failed} failed), {concurrency} at a time, generated in {generated.TotalSeconds:F2} s = {rate:F0} connections/s (the floor: the kernel made flows this fast)");
        Console.WriteLine($"{"reader",-22} {"NEW seen",10} {"recorded/s",11} {"drain after last",17} {"lost",8}");
        Console.WriteLine($"{"Moat flow log",-22} {counters.Recorded,10} {counters.Recorded / generated.TotalSeconds,11:F0} {Drain(ours),17} {counters.KernelOverruns + counters.QueueDrops,8}");
        Console.WriteLine($"{"conntrack -E (stdout)",-22} {peerNew,10} {peerNew / generated.TotalSeconds,11:F0} {Drain(theirs),17} {(peerStderr.Length == 0 ? "0" : peerStderr.Split('\n')[0]),8}");
        Console.WriteLine($"flow log: lag socket->commit mean {counters.MeanLag.TotalMilliseconds:F1} ms, max {counters.MaxLag.TotalMilliseconds:F1} ms; {counters.Batches} transactions ({(counters.Batches == 0 ? 0 : counters.Events / (double)counters.Batches):F0} events each); kernel overruns {counters.KernelOverruns}, queue drops {counters.QueueDrops}, malformed {counters.Malformed}, DESTROY matched so far {counters.Closed} (conntrack -E: {peerDestroy})");
        if (theirs > TimeSpan.Zero && ours > TimeSpan.Zero)
        {
            Console.WriteLine($"ratio (drain, Moat / conntrack -E): {ours.TotalMilliseconds / Math.Max(1, theirs.TotalMilliseconds):F2}");
        }

        return 0;
    }

    private static Process StartIn(NetworkNamespace ns, string file, params string[] args)
    {
        var start = new ProcessStartInfo("nsenter") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        start.ArgumentList.Add("--net=" + ns.Path);
        start.ArgumentList.Add(file);
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        return Process.Start(start) ?? throw new InvalidOperationException($"{file} could not be started.");
    }

    private static void Run(NetworkNamespace ns, string input, string file, params string[] args)
    {
        using var p = StartIn(ns, file, args);
        p.StandardInput.Write(input);
        p.StandardInput.Close();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {p.ExitCode}: {error.Trim()}");
        }
    }
}
