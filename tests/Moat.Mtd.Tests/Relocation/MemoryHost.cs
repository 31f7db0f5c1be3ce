using System.Globalization;
using Moat.Host.Sandboxes;
using Moat.Mtd.Relocation;

namespace Moat.Mtd.Tests.Relocation;

/// <summary>
/// A host agent held in memory, for scheduling tests that need no root: it lists, reserves, stops, exports, imports and
/// destroys sandboxes as records (a sandbox's state is one marker string), and can be made unreachable.
/// </summary>
internal sealed class MemoryHost(string name, TimeProvider time) : IRelocationHost
{
    private readonly Dictionary<string, Sandbox> _sandboxes = new(StringComparer.Ordinal);
    private int _next;

    public string Name => name;

    /// <summary>When true, every call fails as a host that does not answer.</summary>
    public bool Unreachable { get; set; }

    /// <summary>Moves this host has received (imports).</summary>
    public int Imports { get; private set; }

    public IReadOnlyCollection<Sandbox> Sandboxes => _sandboxes.Values;

    /// <summary>Adds a running sandbox started at <paramref name="startedAt"/>.</summary>
    public Sandbox Run(string? sandboxName, string client, DateTimeOffset startedAt, SandboxState state = SandboxState.Running, string? poolImage = null)
    {
        var s = new Sandbox
        {
            Id = NewId(),
            Name = sandboxName,
            Spec = SandboxSpec.Default with { Name = sandboxName, Client = client },
            ImageDigest = "sha256:" + new string('0', 64),
            State = state,
            Address = poolImage is null ? "198.18.7." + _sandboxes.Count.ToString(CultureInfo.InvariantCulture) : null,
            PoolImage = poolImage,
            CreatedAt = startedAt,
            StartedAt = startedAt,
        };
        _sandboxes[s.Id] = s;
        return s;
    }

    public void Remove(string id) => _sandboxes.Remove(id);

    public Task<Host.Api.HostStatus> StatusAsync(CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("the scheduler does not ask for status.");

    public Task<IReadOnlyList<Sandbox>> ListAsync(CancellationToken cancellationToken = default)
    {
        Reach("list sandboxes");
        return Task.FromResult<IReadOnlyList<Sandbox>>([.. _sandboxes.Values]);
    }

    public Task<SandboxDetails> InspectAsync(string sandbox, CancellationToken cancellationToken = default) =>
        Task.FromResult(new SandboxDetails(Get(sandbox), "running", 1, "runc", "/bundle", "/rootfs", null, "netns", "mh0", "/cgroup"));

    public Task<CheckpointSupport> CheckpointSupportAsync(CancellationToken cancellationToken = default) =>
        Task.FromResult(new CheckpointSupport(false, "a memory host cannot checkpoint"));

    public Task<Sandbox> CheckpointAsync(string sandbox, CancellationToken cancellationToken = default) =>
        throw new RelocationHostException(name, "checkpoint", "not supported");

    public Task<Sandbox> ReserveAsync(SandboxManifest manifest, CancellationToken cancellationToken = default)
    {
        Reach("reserve a copy");
        var s = new Sandbox
        {
            Id = NewId(),
            Name = manifest.Spec.Name,
            Spec = manifest.Spec,
            ImageDigest = manifest.ImageDigest,
            State = SandboxState.Stopped,
            CreatedAt = time.GetUtcNow(),
        };
        _sandboxes[s.Id] = s;
        return Task.FromResult(s);
    }

    public Task<Sandbox> StopAsync(string sandbox, CancellationToken cancellationToken = default) =>
        Task.FromResult(_sandboxes[sandbox] = Get(sandbox) with { State = SandboxState.Stopped });

    public Task<Sandbox> StartAsync(string sandbox, CancellationToken cancellationToken = default) =>
        Task.FromResult(_sandboxes[sandbox] = Get(sandbox) with { State = SandboxState.Running, StartedAt = time.GetUtcNow() });

    public Task DestroyAsync(string sandbox, CancellationToken cancellationToken = default)
    {
        _sandboxes.Remove(sandbox);
        return Task.CompletedTask;
    }

    public Task<Stream> ExportStateAsync(string sandbox, CancellationToken cancellationToken = default) =>
        Task.FromResult<Stream>(new MemoryStream("state"u8.ToArray()));

    public async Task<ImportResult> ImportStateAsync(string sandbox, Stream archive, CancellationToken cancellationToken = default)
    {
        Reach("import state");
        using var copy = new MemoryStream();
        await archive.CopyToAsync(copy, cancellationToken);
        var s = _sandboxes[sandbox] = Get(sandbox) with
        {
            State = SandboxState.Running,
            StartedAt = time.GetUtcNow(),
            Address = "198.18.8." + _sandboxes.Count.ToString(CultureInfo.InvariantCulture),
        };
        Imports++;
        return new ImportResult(s, copy.Length, 1);
    }

    public Task<Host.Watch.AlertsReport> AlertsAsync(int limit, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("the scheduler does not read alerts.");

    private Sandbox Get(string id) =>
        _sandboxes.TryGetValue(id, out var s) ? s : throw new RelocationHostException(name, $"find sandbox {id}", "no such sandbox") { Refused = true };

    private void Reach(string operation)
    {
        if (Unreachable)
        {
            throw new RelocationHostException(name, operation, "the host does not answer");
        }
    }

    // Ids as the agent makes them: hex, unique per host.
    private string NewId() => $"{name.GetHashCode(StringComparison.Ordinal) & 0xffff:x4}{++_next:x8}";
}
