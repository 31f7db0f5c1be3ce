using System.Diagnostics;
using Moat.Detect.Capture;
using Moat.Detect.Packets;
using Moat.Detect.Tests.Packets;

namespace Moat.Detect.Tests.Integration;

/// <summary>The pcap writer's output read by the real tcpdump.</summary>
[Trait("Category", "Integration")]
public sealed class PcapWriterPeerTests
{
    [Fact]
    public async Task WrittenFile_IsReadByTcpdump_WithTheSamePackets()
    {
        string path = Path.Combine(Path.GetTempPath(), $"mtd-writer-{Guid.NewGuid():N}.pcap");
        try
        {
            using (var stream = File.Create(path))
            using (var writer = new PcapWriter(stream, LinkType.Ethernet))
            {
                var frame = PacketBuilder.Tcp("198.19.252.1", 40000, "198.19.252.2", 8080, TcpFlags.Syn);
                writer.Write(DateTimeOffset.FromUnixTimeSeconds(1_800_000_000), frame, frame.Length);
                var reply = PacketBuilder.Tcp("198.19.252.2", 8080, "198.19.252.1", 40000, TcpFlags.Rst | TcpFlags.Ack);
                writer.Write(DateTimeOffset.FromUnixTimeSeconds(1_800_000_001), reply, reply.Length);
            }

            var start = new ProcessStartInfo("tcpdump", ["-nn", "-tt", "-r", path]) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var process = Process.Start(start)!;
            string output = await process.StandardOutput.ReadToEndAsync();
            await process.WaitForExitAsync();

            Assert.Equal(0, process.ExitCode);
            var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(2, lines.Length);
            Assert.StartsWith("1800000000.000000 IP 198.19.252.1.40000 > 198.19.252.2.8080: Flags [S]", lines[0], StringComparison.Ordinal);
            Assert.Contains("Flags [R.]", lines[1], StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
