using Moat.Detect.Capture;
using Moat.Detect.Packets;

namespace Moat.Detect.Tests.Packets;

[Trait("Category", "Hostile")]
public sealed class DecoderFuzzTests
{
    public static TheoryData<uint> LinkTypes => [.. Enum.GetValues<LinkType>().Select(t => (uint)t)];

    [Theory]
    [MemberData(nameof(LinkTypes))]
    public void RandomAndMutatedFrames_NeverThrow(uint link)
    {
        var linkType = (LinkType)link;
        var random = new Random((int)link);
        var seed = PacketBuilder.Tcp("198.19.252.1", 1, "198.19.252.2", 2, TcpFlags.Syn, payload: 8);
        for (int i = 0; i < 20_000; i++)
        {
            byte[] frame;
            if (i % 2 == 0)
            {
                frame = new byte[random.Next(0, 120)];
                random.NextBytes(frame);
                if (frame.Length > 0)
                {
                    // Bias towards IP versions so the deeper decoders are reached, not just rejected at the first byte.
                    frame[0] = (byte)((random.Next(2) == 0 ? 0x40 : 0x60) | (frame[0] & 0x0F));
                }
            }
            else
            {
                frame = (byte[])seed.Clone();
                frame[random.Next(frame.Length)] = (byte)random.Next(256);
                frame = frame[..random.Next(frame.Length + 1)];
            }

            // The assertion is that this never throws: a hostile frame is "not decoded" or decoded, nothing else.
            _ = PacketDecoder.Decode(linkType, frame);
        }
    }
}
