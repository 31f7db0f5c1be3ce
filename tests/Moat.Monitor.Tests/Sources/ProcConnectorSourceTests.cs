using System.Buffers.Binary;
using Moat.Monitor.Sources;

namespace Moat.Monitor.Tests.Sources;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ProcConnectorSourceTests
{
    [Fact]
    public void TryParse_ExecMessage_ReadsPidAndSequence()
    {
        byte[] m = Message(what: 2, sequence: 77, cpu: 1, data: [1234, 1234]);
        Assert.True(ProcConnectorSource.TryParse(m, out var e, out uint seq));
        Assert.Equal(77u, seq);
        Assert.Equal(new ProcEvent(ProcEventKind.Exec, 1234, 1234, 0, 1, 99), e);
    }

    [Fact]
    public void TryParse_ForkMessage_ReadsChildAndParent()
    {
        byte[] m = Message(what: 1, sequence: 1, cpu: 0, data: [10, 10, 11, 11]);
        Assert.True(ProcConnectorSource.TryParse(m, out var e, out _));
        Assert.Equal(new ProcEvent(ProcEventKind.Fork, 11, 11, 10, 0, 99), e);
    }

    [Fact]
    public void TryParse_OtherConnectorOrShortMessage_IsRejected()
    {
        byte[] m = Message(what: 2, sequence: 1, cpu: 0, data: [1, 1]);
        BinaryPrimitives.WriteUInt32LittleEndian(m.AsSpan(16), 5); // a different connector index
        Assert.False(ProcConnectorSource.TryParse(m, out _, out _));
        Assert.False(ProcConnectorSource.TryParse(m.AsSpan(0, 40), out _, out _));
    }

    private static byte[] Message(uint what, uint sequence, uint cpu, int[] data)
    {
        var b = new byte[16 + 20 + 16 + 24];
        BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)b.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(16), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(20), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(24), sequence);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(36), what);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(40), cpu);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(44), 99);
        for (int i = 0; i < data.Length; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(52 + (i * 4)), data[i]);
        }

        return b;
    }
}
