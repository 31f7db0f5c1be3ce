// Macro benchmark of the exec monitor: 10,000 short-lived processes in a real runc sandbox.
// Measures (1) the fraction of execs observed and fully identified, (2) the workload's wall time with the
// monitor on vs off, alternating in the same run. Needs root. Usage:
//   dotnet run -c Release --project bench/Moat.Monitor.Bench -- [processes=10000] [rounds=3]
using System.Diagnostics;
using System.Globalization;
using System.Runtime.Versioning;
using Moat.Monitor;
using Moat.Monitor.Bench;

[assembly: SupportedOSPlatform("linux")]

int processes = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10_000;
int rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 3;
var batchInterval = TimeSpan.FromMilliseconds(args.Length > 2 ? double.Parse(args[2], CultureInfo.InvariantCulture) : 2);
var off = new List<double>();
var on = new List<double>();
var coverage = new List<(long Observed, long Identified, long Verified, long Gone, long Gaps, double DrainMs)>();
var cpuOff = new List<double>();
var cpuOn = new List<double>();
var monitorCpu = new List<double>();
var benchCpuOff = new List<double>();
var others = new HashSet<string>();
var execEventsSeen = new List<long>();

// The monitor sees every process event of the host, not only the sandbox's: measure that background cost alone.
double idleCpuMsPerSecond;
long idleEvents;
{
    await using var idle = ExecMonitor.Start();
    var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
    await Task.Delay(TimeSpan.FromSeconds(10));
    idleCpuMsPerSecond = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds / 10;
    idleEvents = idle.Counters.ProcEvents;
}

for (int round = 0; round < rounds; round++)
{
    off.Add(await RunOnceAsync(monitored: false));
    on.Add(await RunOnceAsync(monitored: true));
}

double Median(List<double> xs) => xs.Order().ElementAt(xs.Count / 2);
double offMs = Median(off), onMs = Median(on);
Console.WriteLine($"## Moat.Monitor exec benchmark ({processes} processes of /bin/true in a runc sandbox, {rounds} rounds, median, batch interval {batchInterval.TotalMilliseconds} ms)");
Console.WriteLine();
Console.WriteLine("| measure | monitor off (floor) | monitor on | overhead |");
Console.WriteLine("|---|---|---|---|");
Console.WriteLine($"| workload wall time | {offMs:F0} ms | {onMs:F0} ms | {(onMs / offMs - 1) * 100:F1} % |");
Console.WriteLine($"| per process (fork+exec+exit in sandbox) | {offMs * 1000 / processes:F0} µs | {onMs * 1000 / processes:F0} µs | {(onMs - offMs) * 1000 / processes:F0} µs |");
double sandboxCpuOff = Median(cpuOff), sandboxCpuOn = Median(cpuOn), monitorCpuMs = Median(monitorCpu);
Console.WriteLine($"| sandbox CPU time (cgroup cpuacct) | {sandboxCpuOff:F0} ms | {sandboxCpuOn:F0} ms | {(sandboxCpuOn / sandboxCpuOff - 1) * 100:F1} % |");
long seen = execEventsSeen.Order().ElementAt(execEventsSeen.Count / 2);
Console.WriteLine($"| monitor CPU with no sandbox workload (host background, 10 s) | - | {idleCpuMsPerSecond:F0} ms per s ({idleEvents / 10} host proc events per s) | - |");
// The monitor runs in this process: its CPU is this process's CPU over the workload window (release to drained) with the
// monitor on, minus the same window with it off, so the bench's own polling cancels out; the monitor's start-up and
// the sandbox's are outside the window.
double benchOffMs = Median(benchCpuOff);
monitorCpuMs -= benchOffMs;
Console.WriteLine($"| monitor CPU time: this process's CPU from release to drained, monitor on minus off ({benchOffMs:F0} ms of polling when off); start-up not included | - | {monitorCpuMs:F0} ms | {monitorCpuMs / sandboxCpuOff * 100:F1} % of the workload's CPU |");
Console.WriteLine($"| exec events the monitor handled (sandbox + every host exec) | - | {seen} | {monitorCpuMs * 1000 / seen:F0} µs CPU per exec event |");
Console.WriteLine();
Console.WriteLine("| round | execs observed | fully identified (path+sha256+build-id) | Verified | ProcessGone | gaps | drain after workload |");
Console.WriteLine("|---|---|---|---|---|---|---|");
for (int i = 0; i < coverage.Count; i++)
{
    var c = coverage[i];
    Console.WriteLine($"| {i + 1} | {c.Observed}/{processes} ({100.0 * c.Observed / processes:F2} %) | {c.Identified}/{processes} ({100.0 * c.Identified / processes:F2} %) | {c.Verified} | {c.Gone} | {c.Gaps} | {c.DrainMs:F0} ms |");
}

Console.WriteLine();
if (others.Count > 0)
{
    Console.WriteLine($"records that were not the workload's /bin/true: {string.Join("; ", others.Take(5))}");
}

Console.WriteLine($"raw off: {string.Join(", ", off.Select(x => x.ToString("F0", CultureInfo.InvariantCulture)))} ms; raw on: {string.Join(", ", on.Select(x => x.ToString("F0", CultureInfo.InvariantCulture)))} ms");
return 0;

async Task<double> RunOnceAsync(bool monitored)
{
    await using var sandbox = await BenchSandbox.CreateAsync();
    ExecMonitor? monitor = null;
    var records = new List<ExecRecord>();
    long gaps = 0;
    Task? collector = null;
    if (monitored)
    {
        monitor = ExecMonitor.Start(ExecMonitorOptions.Default with { BatchInterval = batchInterval });
        monitor.WatchSandbox(sandbox.Id, sandbox.RootFs, sandbox.ImageDir);
        collector = Task.Run(async () =>
        {
            await foreach (var e in monitor.Events.ReadAllAsync())
            {
                if (e is ExecRecord r && r.SandboxId == sandbox.Id)
                {
                    lock (records)
                    {
                        records.Add(r);
                    }
                }
                else if (e is GapRecord)
                {
                    Interlocked.Increment(ref gaps);
                }
            }
        });
    }

    try
    {
        // The loop waits for a go-file so that container start-up is not part of the measured time.
        // The loop waits on a named pipe so that container start-up is not part of the measured time.
        await sandbox.CreateFifoAsync("/tmp/go");
        await sandbox.StartAsync($"read x < /tmp/go; i=0; while [ $i -lt {processes} ]; do /bin/true; i=$((i+1)); done; touch /tmp/done; exec /bin/sleep 600");
        int initPid = await sandbox.InitPidAsync();
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        await File.WriteAllTextAsync(sandbox.RootFs + "/tmp/go", "go\n");
        await sandbox.WaitForFileAsync("/tmp/done", TimeSpan.FromMinutes(5));
        double elapsed = sw.Elapsed.TotalMilliseconds;
        (monitored ? cpuOn : cpuOff).Add(sandbox.CpuMilliseconds());
        if (!monitored)
        {
            benchCpuOff.Add((Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMilliseconds);
        }

        if (monitor is not null)
        {
            // Bounded wait for the monitor to drain: every /bin/true must have become a record, or a gap said why not.
            var drain = Stopwatch.StartNew();
            while (Volatile.Read(ref gaps) == 0 && Count(records, initPid) < processes && drain.Elapsed < TimeSpan.FromSeconds(60))
            {
                await Task.Delay(10);
            }

            double drainMs = drain.Elapsed.TotalMilliseconds;
            monitorCpu.Add((Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMilliseconds);
            execEventsSeen.Add(monitor.Counters.ExecEvents);
            Console.Error.WriteLine($"monitor counters: proc events {monitor.Counters.ProcEvents}, exec events {monitor.Counters.ExecEvents}, files captured {monitor.Counters.ExecFilesCaptured}, files hashed {monitor.Counters.FilesHashed}, records {monitor.Counters.Records}");
            await monitor.DisposeAsync();
            await collector!;
            List<ExecRecord> trues;
            lock (records)
            {
                trues = [.. records.Where(r => IsWorkload(r, initPid))];
            }

            foreach (var r in trues.Where(r => r.Argv.Count > 0 && r.Argv[0] != "/bin/true"))
            {
                others.Add($"{r.Path} [{string.Join(' ', r.Argv)}] {r.Verification}");
            }

            coverage.Add((
                trues.Count,
                trues.Count(r => r.Path is not null && r.Sha256 is not null && r.BuildId is not null),
                trues.Count(r => r.Verification == VerificationStatus.Verified),
                trues.Count(r => r.Verification == VerificationStatus.ProcessGone),
                gaps,
                drainMs));
        }

        return elapsed;
    }
    finally
    {
        if (monitor is not null)
        {
            await monitor.DisposeAsync();
        }
    }
}

// Every exec except the init process's own (sh -c, the final sleep) and the runtime's helper (runc init) is one of
// the workload's /bin/true; records of processes already gone carry no argv, and only /bin/true is short-lived here.
static bool IsWorkload(ExecRecord r, int initPid) => r.Pid != initPid && !(r.Argv.Count > 0 && r.Argv[0].StartsWith("runc", StringComparison.Ordinal));

static int Count(List<ExecRecord> records, int initPid)
{
    lock (records)
    {
        return records.Count(r => IsWorkload(r, initPid));
    }
}
