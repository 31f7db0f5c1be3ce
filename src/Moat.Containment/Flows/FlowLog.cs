using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Moat.Detect.Kernel;
using Moat.Linux.Namespaces;

namespace Moat.Containment.Flows;

/// <summary>
/// Records every connection of logged sandboxes from kernel events into <see cref="FlowStore"/>: conntrack NEW and
/// DESTROY for flows the rules allowed, NFLOG packets with a "moat &lt;sandbox&gt; &lt;rule&gt;" prefix for refusals.
/// Run it as a background service: <see cref="RunAsync"/> returns when its token is cancelled, after the last batch.
/// </summary>
/// <remarks>
/// One thread per kernel socket reads and decodes; a bounded queue, fair between sandboxes (<see cref="FairFlowQueue"/>:
/// a flood fills only its own sandbox's share), feeds one writer that commits a transaction per batch. Bad kernel input is counted and skipped (<see cref="FlowLogCounters.Malformed"/>), never fatal.
/// </remarks>
public sealed partial class FlowLog(FlowLogOptions options, IFlowAttribution attribution, ILogger<FlowLog>? logger = null, TimeProvider? time = null)
{
    private const uint ConntrackGroups = (1u << 0) | (1u << 2); // NFNLGRP_CONNTRACK_NEW, _DESTROY
    private const ushort NflogConfig = (4 << 8) | 1;
    private const ushort NfulaCfgCmd = 1;
    private const ushort NfulaCfgMode = 2;
    private const byte NfulnlCfgCmdBind = 1;
    private const byte NfulnlCopyPacket = 2;
    private const uint NflogCopyRange = 128; // headers only: the 5-tuple and IP length are in the first 60 + 60 bytes

    private static readonly TimeSpan ReceiveTimeout = TimeSpan.FromMilliseconds(200);
    private readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _countersLock = new();
    private long _events, _malformed, _ignored, _overruns, _batches, _lagCount;
    private FairFlowQueue? _queue;
    private long _recorded, _closed, _unattributed;
    private TimeSpan _lagSum, _lagMax;

    /// <summary>Raised for every packet a sandbox's rules refused, once its record is committed (on the log's thread:
    /// handlers must not block).</summary>
    public event Action<RefusedAttempt>? Refused;

    /// <summary>
    /// Records a DNS query the host's egress resolver refused by name, as a refused UDP flow from the sandbox to the
    /// resolver under rule "name:&lt;name&gt;" (collapsed like packet refusals). False when the log is not running or its
    /// queue is full (counted as a queue drop then).
    /// </summary>
    public bool RecordRefusedName(DateTimeOffset time, string sandboxId, IPAddress source, int sourcePort, IPAddress resolver, string name)
    {
        var e = new KernelFlowEvent(KernelFlowKind.Refused, time, 0, 17, source, sourcePort, resolver, 53, 0, 0, sandboxId, "name:" + name, Stopwatch.GetTimestamp());
        if (_queue is not { } queue)
        {
            return false;
        }

        // The refusal is the sandbox's own event: it waits in (and is dropped from) that sandbox's lane, counted there.
        return queue.TryWrite(LaneOf(e), e);
    }

    /// <summary>Completes once the kernel sockets are subscribed: events after this are recorded.</summary>
    public Task Started => _started.Task;

    public FlowLogCounters Counters
    {
        get
        {
            lock (_countersLock)
            {
                return new FlowLogCounters(
                    Interlocked.Read(ref _events), _recorded, _closed, Interlocked.Read(ref _malformed), Interlocked.Read(ref _ignored), _unattributed,
                    Interlocked.Read(ref _overruns), _queue?.Dropped ?? 0, _batches,
                    _lagCount == 0 ? TimeSpan.Zero : _lagSum / _lagCount, _lagMax)
                {
                    QueueDropsBySandbox = _queue?.DropsBySandbox ?? new Dictionary<string, long>(),
                };
            }
        }
    }

    /// <summary>Reads and records until <paramref name="cancellationToken"/> is cancelled.</summary>
    /// <exception cref="ContainmentException">The log could not start (database, namespace or kernel subscription).</exception>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        options.Validate();
        var queue = new FairFlowQueue(options.QueueCapacity, options.QueueReservePerSandbox);
        _queue = queue;
        using var store = OpenStore();
        var sockets = new List<NetlinkSocket>();
        var readers = new List<Thread>();
        using var stop = new CancellationTokenSource();
        try
        {
            try
            {
                EnableAccounting();
                if (options.Conntrack)
                {
                    sockets.Add(NetlinkSocket.Open(options.NetworkNamespacePath, ConntrackGroups, ReceiveTimeout));
                }

                if (options.NflogGroup is { } group)
                {
                    sockets.Add(OpenNflog(group));
                }
            }
            catch (KernelSourceException e)
            {
                _started.TrySetException(e);
                throw new ContainmentException($"The flow log could not subscribe to kernel events{Where()}: {e.Message}", e);
            }

            var pending = sockets.Count;
            foreach (var socket in sockets)
            {
                var thread = new Thread(() =>
                {
                    try
                    {
                        ReadLoop(socket, queue, stop.Token);
                    }
                    finally
                    {
                        if (Interlocked.Decrement(ref pending) == 0)
                        {
                            queue.Complete();
                        }
                    }
                })
                { IsBackground = true, Name = "moat-flowlog-reader" };
                readers.Add(thread);
                thread.Start();
            }

            _started.TrySetResult();
            Log.Started(_logger, options.DatabasePath, options.Conntrack, options.NflogGroup?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "none");
            await WriteLoopAsync(store, queue, stop, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            foreach (var thread in readers)
            {
                thread.Join();
            }

            foreach (var socket in sockets)
            {
                socket.Dispose();
            }

            _started.TrySetCanceled(CancellationToken.None);
        }
    }

    private FlowStore OpenStore()
    {
        try
        {
            return FlowStore.Open(options.DatabasePath);
        }
        catch (Exception e) when (e is Microsoft.Data.Sqlite.SqliteException or IOException or UnauthorizedAccessException)
        {
            _started.TrySetException(e);
            throw new ContainmentException($"The flow log database {options.DatabasePath} could not be opened: {e.Message}", e);
        }
    }

    private string Where() => options.NetworkNamespacePath is null ? "" : " in " + options.NetworkNamespacePath;

    private void EnableAccounting()
    {
        if (!options.EnableAccounting)
        {
            return;
        }

        try
        {
            using var ns = options.NetworkNamespacePath is null ? null : NetworkNamespace.OpenPath(options.NetworkNamespacePath);
            Sysctl.Write(ns, "net.netfilter.nf_conntrack_acct", "1");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Moat.Linux.LinuxException)
        {
            // Without it flows are still logged, only without byte counts; say so once.
            Log.NoAccounting(_logger, e.Message);
        }
    }

    private NetlinkSocket OpenNflog(ushort group)
    {
        var socket = NetlinkSocket.Open(options.NetworkNamespacePath, 0, ReceiveTimeout);
        try
        {
            socket.Request(NflogConfig, NflogConfigMessage(group, NfulaCfgCmd, [NfulnlCfgCmdBind]));
            Span<byte> mode = stackalloc byte[6];
            BinaryPrimitives.WriteUInt32BigEndian(mode, NflogCopyRange);
            mode[4] = NfulnlCopyPacket;
            socket.Request(NflogConfig, NflogConfigMessage(group, NfulaCfgMode, mode));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static byte[] NflogConfigMessage(ushort group, ushort attribute, ReadOnlySpan<byte> value)
    {
        var message = new List<byte> { 0 /* AF_UNSPEC */, 0 /* NFNETLINK_V0 */, (byte)(group >> 8), (byte)group };
        NetlinkMessages.WriteAttribute(message, attribute, value);
        return [.. message];
    }

    private void ReadLoop(NetlinkSocket socket, FairFlowQueue writer, CancellationToken stop)
    {
        var decoder = new FlowDecoder(_time);
        var buffer = new byte[256 * 1024];
        var events = new List<KernelFlowEvent>();
        long malformed = 0, ignored = 0;
        while (!stop.IsCancellationRequested)
        {
            int n;
            try
            {
                n = socket.Receive(buffer);
            }
            catch (KernelSourceException e)
            {
                Log.ReaderFailed(_logger, e.Message);
                return;
            }

            if (n < 0)
            {
                Interlocked.Increment(ref _overruns);
                continue;
            }

            decoder.Decode(buffer.AsSpan(0, n), events);
            Interlocked.Add(ref _malformed, decoder.Malformed - malformed);
            Interlocked.Add(ref _ignored, decoder.Ignored - ignored);
            (malformed, ignored) = (decoder.Malformed, decoder.Ignored);
            Interlocked.Add(ref _events, events.Count);
            foreach (var e in events)
            {
                writer.TryWrite(LaneOf(e), e);
            }

            events.Clear();
        }
    }

    /// <summary>The sandbox an event belongs to, as the recorder will attribute it; "" when no logged sandbox owns it.</summary>
    private string LaneOf(KernelFlowEvent e) =>
        e.SandboxId ?? attribution.ByAddress(e.Source)?.SandboxId ?? attribution.ByAddress(e.Destination)?.SandboxId ?? "";

    private async Task WriteLoopAsync(FlowStore store, FairFlowQueue reader, CancellationTokenSource stopReaders, CancellationToken cancellationToken)
    {
        var recorder = new FlowRecorder(attribution, options);
        var batch = new List<KernelFlowEvent>(options.MaxBatch);
        var nextPrune = _time.GetUtcNow();
        var stopping = false;
        while (true)
        {
            try
            {
                if (!await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    break;
                }

                if (options.MaxBatchDelay > TimeSpan.Zero && reader.Count < options.MaxBatch)
                {
                    await Task.Delay(options.MaxBatchDelay, _time, cancellationToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Stop reading the kernel, then write what was already queued.
                await stopReaders.CancelAsync().ConfigureAwait(false);
                stopping = true;
            }

            while (batch.Count < options.MaxBatch && reader.TryRead(out var e))
            {
                batch.Add(e);
            }

            if (batch.Count > 0)
            {
                Commit(store, recorder, batch);
                batch.Clear();
            }

            if (_time.GetUtcNow() >= nextPrune)
            {
                var pruned = store.Prune(_time.GetUtcNow() - options.Retention, options.MaxRecords);
                if (pruned > 0)
                {
                    Log.Pruned(_logger, pruned);
                }

                nextPrune = _time.GetUtcNow() + options.PruneInterval;
            }

            if (stopping && reader.Count == 0)
            {
                break;
            }
        }
    }

    private void Commit(FlowStore store, FlowRecorder recorder, List<KernelFlowEvent> batch)
    {
        using (var transaction = store.BeginBatch())
        {
            foreach (var e in batch)
            {
                recorder.Apply(e, transaction);
            }

            transaction.Commit();
        }

        var committed = Stopwatch.GetTimestamp();
        lock (_countersLock)
        {
            foreach (var e in batch)
            {
                var lag = Stopwatch.GetElapsedTime(e.ReceivedTicks, committed);
                _lagSum += lag;
                _lagMax = lag > _lagMax ? lag : _lagMax;
            }

            _lagCount += batch.Count;
            _batches++;
            (_recorded, _closed, _unattributed) = (recorder.Inserted, recorder.Closed, recorder.Unattributed);
        }

        if (Refused is { } refused)
        {
            foreach (var e in batch)
            {
                if (e.Kind == KernelFlowKind.Refused && e.SandboxId is { } id)
                {
                    refused(new RefusedAttempt(e.Time, id, e.Rule, e.Protocol, e.Source, e.SourcePort, e.Destination, e.DestinationPort));
                }
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3501, Level = LogLevel.Information, Message = "Flow log writing to {Path} (conntrack {Conntrack}, NFLOG group {Group})")]
        public static partial void Started(ILogger logger, string path, bool conntrack, string group);

        [LoggerMessage(EventId = 3502, Level = LogLevel.Warning, Message = "Conntrack accounting could not be enabled, flows will carry no byte counts: {Reason}")]
        public static partial void NoAccounting(ILogger logger, string reason);

        [LoggerMessage(EventId = 3503, Level = LogLevel.Error, Message = "A flow log reader stopped: {Reason}")]
        public static partial void ReaderFailed(ILogger logger, string reason);

        [LoggerMessage(EventId = 3504, Level = LogLevel.Information, Message = "Flow log pruned {Count} old records")]
        public static partial void Pruned(ILogger logger, int count);
    }
}
