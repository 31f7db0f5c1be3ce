namespace Moat.Detect.Capture;

/// <summary>One record of a capture file: the bytes point into the file's buffer, nothing is copied.</summary>
internal readonly record struct CapturedPacket(
    DateTimeOffset Timestamp,
    LinkType LinkType,
    int OriginalLength,
    ReadOnlyMemory<byte> Data);
