using System.Diagnostics;
using System.Text;

namespace Moat.Fuzz.Engine;

/// <summary>
/// Runs a target's inputs on a worker thread watched by the caller: an input that overruns the time limit is recorded as
/// a hang and the worker is abandoned for a fresh one (a thread cannot be stopped, only left behind); an exception the
/// parser does not document is a crash; allocation beyond the per-input budget is a memory finding. Working set and GC
/// heap are sampled while the worker runs.
/// </summary>
internal sealed class FuzzRunner(FuzzOptions options)
{
    public FuzzOptions Options { get; } = options;

    private static readonly TimeSpan SampleEvery = TimeSpan.FromMilliseconds(100);

    public FuzzResult Run(FuzzTarget target)
    {
        target.Setup?.Invoke();
        try
        {
            return RunCore(target);
        }
        finally
        {
            target.Teardown?.Invoke();
        }
    }

    private FuzzResult RunCore(FuzzTarget target)
    {
        var mutator = new Mutator(target.Seeds(), target.Dictionary, target.MaxLength, Options.Seed);
        var stats = new Stats();
        long peakWorkingSet = Environment.WorkingSet;
        long peakHeap = GC.GetTotalMemory(false);
        var clock = Stopwatch.StartNew();
        var worker = Worker.Start(this, target, mutator, stats, first: 0);
        while (true)
        {
            bool finished = worker.Finished.Wait(SampleEvery);
            peakWorkingSet = Math.Max(peakWorkingSet, Environment.WorkingSet);
            peakHeap = Math.Max(peakHeap, GC.GetTotalMemory(false));
            if (finished)
            {
                break;
            }

            long started = Volatile.Read(ref worker.StartedAt);
            if (started == 0 || Stopwatch.GetElapsedTime(started) <= Options.HangLimit)
            {
                continue;
            }

            worker.Abandoned = true;
            long index = Volatile.Read(ref worker.Index);
            byte[] input = Volatile.Read(ref worker.Input) ?? [];
            lock (stats)
            {
                stats.Hangs++;
                stats.Completed = Math.Max(stats.Completed, index + 1);
                stats.MaxTicks = Math.Max(stats.MaxTicks, Stopwatch.GetTimestamp() - started);
                stats.Add(FindingKind.Hang, index, "hang", $"still running after {Options.HangLimit.TotalSeconds:0.#} s", input, null, Options.MaxFindings);
            }

            if (stats.Hangs >= Options.MaxHangs || index + 1 >= Options.Inputs)
            {
                break;
            }

            worker = Worker.Start(this, target, mutator, stats, first: index + 1);
        }

        clock.Stop();
        var findings = new List<FuzzFinding>();
        lock (stats)
        {
            foreach (var f in stats.Findings)
            {
                byte[] minimised = f.Kind == FindingKind.Crash ? Minimise(target, f.Input, f.Signature) : f.Input;
                findings.Add(Save(target, f with { Minimised = minimised }));
            }

            return new FuzzResult(
                target.Name,
                target.Parser,
                stats.Completed,
                stats.Refused,
                stats.Crashes,
                stats.Hangs,
                stats.MemoryFindings,
                stats.MaxTicks * 1000.0 / Stopwatch.Frequency,
                stats.MaxAllocated,
                peakWorkingSet,
                peakHeap,
                clock.Elapsed.TotalSeconds,
                findings);
        }
    }

    /// <summary>The exception's type and the frame that threw it: two inputs with the same signature are one bug.</summary>
    internal static string SignatureOf(Exception e)
    {
        string frame = e.StackTrace?.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? "(no stack)";
        return $"{e.GetType().FullName} {frame}";
    }

    /// <summary>
    /// Shrinks a crashing input while it still crashes with the same signature: deletes chunks from half the input
    /// down to single bytes, within <see cref="FuzzOptions.MinimiseAttempts"/> tries.
    /// </summary>
    internal byte[] Minimise(FuzzTarget target, byte[] input, string signature)
    {
        byte[] best = input;
        int attempts = 0;
        for (int chunk = Math.Max(1, best.Length / 2); chunk >= 1 && attempts < Options.MinimiseAttempts; chunk /= 2)
        {
            for (int at = 0; at < best.Length && attempts < Options.MinimiseAttempts;)
            {
                int length = Math.Min(chunk, best.Length - at);
                byte[] candidate = [.. best.AsSpan(0, at), .. best.AsSpan(at + length)];
                attempts++;
                if (CrashSignature(target, candidate) == signature)
                {
                    best = candidate;
                }
                else
                {
                    at += length;
                }
            }
        }

        return best;
    }

    private static string? CrashSignature(FuzzTarget target, byte[] input)
    {
        try
        {
            target.Run(input);
            return null;
        }
        catch (Exception e) when (!target.Expected(e))
        {
            return SignatureOf(e);
        }
        catch (Exception)
        {
            return null;
        }
    }

    private FuzzFinding Save(FuzzTarget target, FuzzFinding finding)
    {
        if (Options.CrashFolder is null)
        {
            return finding;
        }

        string folder = Path.Combine(Options.CrashFolder, target.Name);
        Directory.CreateDirectory(folder);
        string stem = Path.Combine(folder, $"{finding.Kind.ToString().ToLowerInvariant()}-seed{Options.Seed}-{finding.Index}");
        File.WriteAllBytes(stem + ".bin", finding.Input);
        File.WriteAllBytes(stem + ".min.bin", finding.Minimised);
        File.WriteAllText(stem + ".txt", new StringBuilder()
            .AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"target {target.Name} ({target.Parser}), seed {Options.Seed}, input {finding.Index}, seen {finding.Count} times")
            .AppendLine(finding.Signature)
            .AppendLine(finding.Detail)
            .AppendLine(System.Globalization.CultureInfo.InvariantCulture, $"minimised ({finding.Minimised.Length} bytes, base64): {Convert.ToBase64String(finding.Minimised)}")
            .ToString());
        return finding with { SavedAs = stem + ".bin" };
    }

    private bool OverBudget(FuzzTarget target, byte[] input, long allocated) =>
        allocated > Options.AllocationBase + ((target.AllocationPerInputByte ?? Options.AllocationPerInputByte) * input.Length);

    /// <summary>Counters shared by the current worker and the watchdog; findings are added under its lock.</summary>
    private sealed class Stats
    {
        public long Completed;
        public long Refused;
        public int Crashes;
        public int Hangs;
        public int MemoryFindings;
        public long MaxTicks;
        public long MaxAllocated;
        public readonly List<FuzzFinding> Findings = [];

        public void Add(FindingKind kind, long index, string signature, string detail, byte[] input, Exception? error, int maxFindings)
        {
            string key = $"{kind} {signature}";
            int at = Findings.FindIndex(f => $"{f.Kind} {f.Signature}" == key);
            if (at >= 0)
            {
                Findings[at] = Findings[at] with { Count = Findings[at].Count + 1 };
                return;
            }

            if (Findings.Count < maxFindings)
            {
                Findings.Add(new FuzzFinding(kind, index, signature, error?.ToString() ?? detail, input, input, 1));
            }
        }
    }

    /// <summary>A thread running inputs from <c>first</c> on; the watchdog reads <see cref="StartedAt"/> to spot a hang.</summary>
    private sealed class Worker
    {
        public readonly ManualResetEventSlim Finished = new(false);
        public long StartedAt;
        public long Index;
        public byte[]? Input;
        public volatile bool Abandoned;

        public static Worker Start(FuzzRunner runner, FuzzTarget target, Mutator mutator, Stats stats, long first)
        {
            var worker = new Worker();
            var thread = new Thread(() => worker.Loop(runner, target, mutator, stats, first), runner.Options.StackBytes)
            {
                IsBackground = true,
                Name = $"fuzz {target.Name}",
            };
            thread.Start();
            return worker;
        }

        private void Loop(FuzzRunner runner, FuzzTarget target, Mutator mutator, Stats stats, long first)
        {
            var options = runner.Options;
            try
            {
                for (long i = first; i < options.Inputs && !Abandoned; i++)
                {
                    byte[] input = mutator.Create(i);
                    Volatile.Write(ref Input, input);
                    Volatile.Write(ref Index, i);
                    Exception? error = null;
                    long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
                    long started = Stopwatch.GetTimestamp();
                    Volatile.Write(ref StartedAt, started);
                    try
                    {
                        target.Run(input);
                    }
                    catch (Exception e)
                    {
                        error = e;
                    }

                    long ticks = Stopwatch.GetTimestamp() - started;
                    Volatile.Write(ref StartedAt, 0);
                    long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
                    if (Abandoned)
                    {
                        return;
                    }

                    lock (stats)
                    {
                        stats.Completed = i + 1;
                        stats.MaxTicks = Math.Max(stats.MaxTicks, ticks);
                        stats.MaxAllocated = Math.Max(stats.MaxAllocated, allocated);
                        if (error is not null && target.Expected(error))
                        {
                            stats.Refused++;
                        }
                        else if (error is not null)
                        {
                            stats.Crashes++;
                            stats.Add(FindingKind.Crash, i, SignatureOf(error), error.Message, input, error, options.MaxFindings);
                        }

                        if (runner.OverBudget(target, input, allocated))
                        {
                            stats.MemoryFindings++;
                            stats.Add(FindingKind.Memory, i, "allocation over budget", $"{allocated} bytes allocated for a {input.Length}-byte input", input, null, options.MaxFindings);
                        }

                        if (ticks * 1000 / Stopwatch.Frequency > options.HangLimit.TotalMilliseconds)
                        {
                            stats.Hangs++;
                            stats.Add(FindingKind.Hang, i, "slow", $"took {ticks * 1000.0 / Stopwatch.Frequency:0} ms", input, null, options.MaxFindings);
                        }
                    }
                }
            }
            finally
            {
                Finished.Set();
            }
        }
    }
}
