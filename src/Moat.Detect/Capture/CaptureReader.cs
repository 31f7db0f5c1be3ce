namespace Moat.Detect.Capture;

/// <summary>Reads pcap or pcapng from memory, choosing the format from the first four bytes.</summary>
internal static class CaptureReader
{
    /// <summary>Files bigger than this are refused rather than loaded whole.</summary>
    internal const long MaxFileBytes = 1L << 31;

    internal static IEnumerable<CapturedPacket> Read(ReadOnlyMemory<byte> file)
    {
        if (file.Length < 4)
        {
            throw new CaptureFormatException("The file is too short to be a pcap or pcapng capture", 0);
        }

        return PcapNgReader.IsPcapNg(file.Span) ? PcapNgReader.Read(file) : PcapReader.Read(file);
    }

    internal static byte[] LoadFile(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new FileNotFoundException($"The capture file '{path}' does not exist.", path);
        }

        if (info.Length > MaxFileBytes)
        {
            throw new CaptureFormatException($"The capture file '{path}' is larger than {MaxFileBytes} bytes", 0);
        }

        return File.ReadAllBytes(path);
    }
}
