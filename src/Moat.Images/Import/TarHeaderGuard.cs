using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Moat.Images.Import;

/// <summary>
/// Sits between a tar stream and .NET's TarReader and refuses a metadata entry (pax 'x' and 'g', GNU 'L' and 'K')
/// whose size field is over a bound before TarReader rents a buffer of that size: without it a 3 KB layer claiming a
/// half-gibibyte pax header made the importer allocate a gibibyte. The guard follows the archive's layout from the
/// bytes read through it (a 512-byte header, the data rounded up to 512, a pax 'size' record overriding the next
/// entry's size) and throws InvalidDataException, which the importer reports like any other corrupt tar.
/// </summary>
internal sealed class TarHeaderGuard : Stream
{
    internal const long MaxMetadataEntryBytes = 1 << 20;
    private const int Block = 512;

    private readonly Stream inner;
    private readonly byte[] header = new byte[Block];
    private long position;
    private long nextHeader;
    private int headerBytes;
    private long? sizeOverride;
    private byte[]? pax;
    private long paxStart;
    private int paxBytes;

    public TarHeaderGuard(Stream inner)
    {
        this.inner = inner;
        position = nextHeader = inner.CanSeek ? inner.Position : 0;
    }

    public override bool CanRead => true;

    public override bool CanSeek => inner.CanSeek;

    public override bool CanWrite => false;

    public override long Length => inner.Length;

    public override long Position
    {
        get => position;
        set => position = inner.Position = value;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        long at = position;
        int n = inner.Read(buffer);
        position += n;
        Observe(buffer[..n], at);
        return n;
    }

    public override long Seek(long offset, SeekOrigin origin) => position = inner.Seek(offset, origin);

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    private void Observe(ReadOnlySpan<byte> data, long at)
    {
        if (pax is not null && at <= paxStart + paxBytes && at + data.Length > paxStart + paxBytes)
        {
            int from = (int)(paxStart + paxBytes - at);
            int take = Math.Min(data.Length - from, pax.Length - paxBytes);
            data.Slice(from, take).CopyTo(pax.AsSpan(paxBytes));
            paxBytes += take;
            if (paxBytes == pax.Length)
            {
                sizeOverride = PaxSize(pax);
                pax = null;
            }
        }

        // Only a read that continues the header block where it left off counts (data reads and seeks elsewhere do not).
        long want = nextHeader + headerBytes;
        if (at > want || at + data.Length <= want)
        {
            return;
        }

        int start = (int)(want - at);
        int count = Math.Min(data.Length - start, Block - headerBytes);
        data.Slice(start, count).CopyTo(header.AsSpan(headerBytes));
        headerBytes += count;
        if (headerBytes == Block)
        {
            Parsed();
        }

        if (data.Length > start + count)
        {
            Observe(data[(start + count)..], at + start + count);
        }
    }

    private void Parsed()
    {
        long headerAt = nextHeader;
        char type = (char)header[156];
        long size = Size(header.AsSpan(124, 12), headerAt);
        bool metadata = type is 'x' or 'g' or 'L' or 'K';
        if (metadata && size > MaxMetadataEntryBytes)
        {
            throw new InvalidDataException(
                $"the tar extended header at offset {headerAt} claims {size} bytes; at most {MaxMetadataEntryBytes} are accepted");
        }

        if (!metadata && sizeOverride is { } paxSize)
        {
            size = paxSize;
        }

        if (!metadata)
        {
            sizeOverride = null;
        }

        if (type == 'x')
        {
            pax = new byte[size];
            paxStart = headerAt + Block;
            paxBytes = 0;
            if (size == 0)
            {
                pax = null;
            }
        }

        nextHeader = headerAt + Block + ((size + Block - 1) / Block * Block);
        headerBytes = 0;
    }

    /// <summary>The size field: octal digits (padded with spaces or NULs), or base-256 when the high bit is set.</summary>
    private static long Size(ReadOnlySpan<byte> field, long headerAt)
    {
        if ((field[0] & 0x80) != 0)
        {
            // Base-256: 0x80 then a big-endian number; a negative (0xff) or over-long number is no size at all.
            if (field[0] != 0x80 || field[1..4].IndexOfAnyExcept((byte)0) >= 0)
            {
                throw new InvalidDataException($"the tar header at offset {headerAt} has a size that is negative or beyond 2^63");
            }

            long big = BinaryPrimitives.ReadInt64BigEndian(field[4..]);
            return big >= 0 ? big : throw new InvalidDataException($"the tar header at offset {headerAt} has a size beyond 2^63");
        }

        var digits = field.Trim((byte)' ').TrimEnd((byte)0).TrimEnd((byte)' ');
        long value = 0;
        foreach (byte b in digits)
        {
            if (b is < (byte)'0' or > (byte)'7')
            {
                throw new InvalidDataException($"the tar header at offset {headerAt} has a size field that is not an octal number");
            }

            value = (value * 8) + (b - '0');
        }

        return value;
    }

    /// <summary>The 'size' record of a pax header ("LEN size=N\n"), which replaces the next entry's size field.</summary>
    private static long? PaxSize(byte[] records)
    {
        foreach (string line in Encoding.UTF8.GetString(records).Split('\n'))
        {
            int space = line.IndexOf(' ', StringComparison.Ordinal);
            if (space > 0 && line.AsSpan(space + 1).StartsWith("size=", StringComparison.Ordinal)
                && long.TryParse(line.AsSpan(space + 6), NumberStyles.None, CultureInfo.InvariantCulture, out long size))
            {
                return size;
            }
        }

        return null;
    }
}
