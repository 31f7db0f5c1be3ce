using System.Security.Cryptography;

namespace Moat.Images.Import;

/// <summary>
/// A read-only pass-through over a decompressed layer that reports every byte read (so the applier's size budget sees
/// headers and skipped data too) and hashes them (so a layer can be checked against its diff id).
/// </summary>
internal sealed class MeteredStream(Stream inner, Action<long> count) : Stream
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int read = inner.Read(buffer);
        _hash.AppendData(buffer[..read]);
        count(read);
        return read;
    }

    /// <summary>Reads what the tar reader left (end-of-archive padding), still counted, so the hash covers the whole layer.</summary>
    internal void Drain(CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[1 << 16];
        while (Read(buffer) > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>The sha256 of everything read so far, as lowercase hex.</summary>
    internal string Sha256Hex() => Convert.ToHexStringLower(_hash.GetCurrentHash());

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
        }

        base.Dispose(disposing);
    }
}
