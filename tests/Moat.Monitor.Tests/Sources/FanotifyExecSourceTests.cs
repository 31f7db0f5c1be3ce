using System.Buffers.Binary;
using System.IO.Pipes;
using Microsoft.Win32.SafeHandles;
using Moat.Monitor.Sources;

namespace Moat.Monitor.Tests.Sources;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class FanotifyExecSourceTests
{
    [Fact]
    public void Drain_QueueOverflowEvent_IsReportedAsAGap()
    {
        var gaps = new List<string>();
        int execs = 0;
        Drain([Event(mask: 0x4000, fd: -1, pid: 0), Event(mask: 0x1000, fd: -1, pid: 42)], (_, h) => { execs++; h.Dispose(); }, gaps.Add);
        Assert.Single(gaps);
        Assert.Contains("FAN_Q_OVERFLOW", gaps[0], StringComparison.Ordinal);
        Assert.Equal(0, execs); // an event without a descriptor carries no file to identify
    }

    [Fact]
    public void Drain_MalformedEventLength_Throws()
    {
        byte[] bad = Event(mask: 0x1000, fd: -1, pid: 1);
        BinaryPrimitives.WriteUInt32LittleEndian(bad, 8);
        Assert.Throws<MonitorException>(() => Drain([bad], (_, h) => h.Dispose(), _ => { }));
    }

    private static void Drain(byte[][] events, Action<int, SafeFileHandle> onExec, Action<string> onGap)
    {
        using var server = new AnonymousPipeServerStream(PipeDirection.In);
        using (var writer = new AnonymousPipeClientStream(PipeDirection.Out, server.ClientSafePipeHandle))
        {
            // One write so that one read(2) returns all events together, as fanotify does.
            writer.Write([.. events.SelectMany(e => e)]);
        }

        // With every write end closed the reader sees end of file after the events instead of blocking.
        server.DisposeLocalCopyOfClientHandle();
        using var readEnd = new SafeFileHandle(server.SafePipeHandle.DangerousGetHandle(), ownsHandle: false);
        using var source = FanotifyExecSource.FromHandle(readEnd);
        source.Drain(onExec, onGap);
    }

    private static byte[] Event(ulong mask, int fd, int pid)
    {
        var b = new byte[24];
        BinaryPrimitives.WriteUInt32LittleEndian(b, 24);
        b[4] = 3;
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(6), 24);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), mask);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(16), fd);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(20), pid);
        return b;
    }
}
