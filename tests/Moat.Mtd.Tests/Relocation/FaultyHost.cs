using Moat.Host.Sandboxes;
using Moat.Mtd.Relocation;

namespace Moat.Mtd.Tests.Relocation;

/// <summary>A host with a fault put in at its boundary: an export stream that fails after a number of bytes, as a
/// dropped link would, or (a compromised source) an export replaced by an archive of the attacker's making.</summary>
internal sealed class FaultyHost(IRelocationHost inner) : IRelocationHost
{
    /// <summary>Bytes after which the export stream fails; null: it does not.</summary>
    public int? BreakExportAfter { get; init; }

    /// <summary>An archive sent instead of the sandbox's real state; null: the real one.</summary>
    public byte[]? ExportInstead { get; init; }

    public string Name => inner.Name;

    public Task<Host.Api.HostStatus> StatusAsync(CancellationToken cancellationToken = default) => inner.StatusAsync(cancellationToken);

    public Task<IReadOnlyList<Sandbox>> ListAsync(CancellationToken cancellationToken = default) => inner.ListAsync(cancellationToken);

    public Task<SandboxDetails> InspectAsync(string sandbox, CancellationToken cancellationToken = default) => inner.InspectAsync(sandbox, cancellationToken);

    public Task<CheckpointSupport> CheckpointSupportAsync(CancellationToken cancellationToken = default) => inner.CheckpointSupportAsync(cancellationToken);

    public Task<Sandbox> ReserveAsync(SandboxManifest manifest, CancellationToken cancellationToken = default) => inner.ReserveAsync(manifest, cancellationToken);

    public Task<Sandbox> CheckpointAsync(string sandbox, CancellationToken cancellationToken = default) => inner.CheckpointAsync(sandbox, cancellationToken);

    public Task<Sandbox> StopAsync(string sandbox, CancellationToken cancellationToken = default) => inner.StopAsync(sandbox, cancellationToken);

    public Task<Sandbox> StartAsync(string sandbox, CancellationToken cancellationToken = default) => inner.StartAsync(sandbox, cancellationToken);

    public Task DestroyAsync(string sandbox, CancellationToken cancellationToken = default) => inner.DestroyAsync(sandbox, cancellationToken);

    public async Task<Stream> ExportStateAsync(string sandbox, CancellationToken cancellationToken = default) =>
        ExportInstead is { } forged ? new MemoryStream(forged) : BreakExportAfter is { } after ? new BreakingStream(await inner.ExportStateAsync(sandbox, cancellationToken), after) : await inner.ExportStateAsync(sandbox, cancellationToken);

    public Task<ImportResult> ImportStateAsync(string sandbox, Stream archive, CancellationToken cancellationToken = default) => inner.ImportStateAsync(sandbox, archive, cancellationToken);

    public Task<Host.Watch.AlertsReport> AlertsAsync(int limit, CancellationToken cancellationToken = default) => inner.AlertsAsync(limit, cancellationToken);
}

internal sealed class BreakingStream(Stream inner, int after) : Stream
{
    private long _read;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => _read; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_read >= after)
        {
            throw new IOException("connection to the source dropped");
        }

        var n = await inner.ReadAsync(buffer[..(int)Math.Min(buffer.Length, after - _read)], cancellationToken);
        _read += n;
        return n;
    }

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
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
