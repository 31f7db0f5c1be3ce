using Moat.Detect.Capture;
using Moat.Detect.Detectors;
using Moat.Detect.Packets;
using Moat.Detect.Tests.Conformance;

namespace Moat.Detect.Tests.Capture;

/// <summary>Truncated and bit-flipped versions of every conformance capture: the reader either reads or throws CaptureFormatException.</summary>
[Trait("Category", "Hostile")]
public sealed class CorruptCaptureTests
{
    private const int MutationsPerFile = 150;

    public static TheoryData<string> Files => [.. new[] { "scan-zeek-simple-scan", "scan-snabb-suppression", "traffic-scans", "traffic-benign" }
        .SelectMany(ConformanceData.Captures)
        .Where(f => new FileInfo(f).Length < 400_000)];

    [Theory]
    [MemberData(nameof(Files))]
    public void MutatedCapture_NeverCrashesTheReaderDecoderOrDetectors(string path)
    {
        var original = File.ReadAllBytes(path);
        var random = new Random(original.Length);
        int typedFailures = 0;
        for (int i = 0; i < MutationsPerFile; i++)
        {
            var bytes = Mutate(original, random);
            try
            {
                CaptureReplay.Run(bytes, new DetectionEngine());
            }
            catch (CaptureFormatException e)
            {
                typedFailures++;
                Assert.InRange(e.Offset, 0, bytes.Length);
            }
        }

        // Most mutations cut the file short; if none was caught the mutation was not exercising anything.
        Assert.True(typedFailures > 0, "no mutation produced a format error");
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void EveryPrefix_OfTheFirst512Bytes_ReadsOrThrowsTyped(string path)
    {
        var original = File.ReadAllBytes(path);
        for (int length = 0; length < Math.Min(512, original.Length); length++)
        {
            try
            {
                foreach (var packet in CaptureReader.Read(original.AsMemory(0, length)))
                {
                    PacketDecoder.Decode(packet.LinkType, packet.Data.Span);
                }
            }
            catch (CaptureFormatException)
            {
                // The typed exception is the documented outcome for a cut file.
            }
        }
    }

    private static byte[] Mutate(byte[] original, Random random)
    {
        var bytes = (byte[])original.Clone();
        switch (random.Next(3))
        {
            case 0:
                return bytes[..random.Next(bytes.Length)];
            case 1:
                for (int flips = random.Next(1, 16); flips > 0; flips--)
                {
                    bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                }

                return bytes;
            default:
                for (int writes = random.Next(1, 8); writes > 0; writes--)
                {
                    // Overwrite a 4-byte field with an extreme value: lengths and counts are where readers break.
                    int at = random.Next(Math.Max(1, bytes.Length - 4));
                    uint value = random.Next(4) switch { 0 => 0, 1 => 0xFFFFFFFF, 2 => 0x7FFFFFFF, _ => (uint)random.Next() };
                    BitConverter.TryWriteBytes(bytes.AsSpan(at, Math.Min(4, bytes.Length - at)), value);
                }

                return bytes[..random.Next(bytes.Length / 2, bytes.Length + 1)];
        }
    }
}
