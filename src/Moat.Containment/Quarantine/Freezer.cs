namespace Moat.Containment.Quarantine;

/// <summary>
/// Freezes or thaws a sandbox's processes through the cgroup v1 freezer (what `runc pause` does), so a quarantined
/// sandbox can be kept for post-mortem with nothing running.
/// </summary>
public sealed class Freezer(string root = Freezer.DefaultRoot)
{
    public const string DefaultRoot = "/sys/fs/cgroup/freezer/moat";

    public string StatePath(string id) => Path.Combine(root, id, "freezer.state");

    public bool Exists(string id) => File.Exists(StatePath(id));

    /// <summary>Asks the kernel to freeze and waits (bounded) until every process is frozen.</summary>
    public async Task FreezeAsync(string id, CancellationToken cancellationToken = default) => await SetAsync(id, "FROZEN", cancellationToken).ConfigureAwait(false);

    public async Task ThawAsync(string id, CancellationToken cancellationToken = default) => await SetAsync(id, "THAWED", cancellationToken).ConfigureAwait(false);

    public string State(string id) => File.ReadAllText(StatePath(id)).Trim();

    private async Task SetAsync(string id, string state, CancellationToken cancellationToken)
    {
        var path = StatePath(id);
        if (!File.Exists(path))
        {
            throw new ContainmentInputException($"Sandbox '{id}' has no freezer cgroup at {Path.GetDirectoryName(path)}; it is not running on this host.");
        }

        await File.WriteAllTextAsync(path, state, cancellationToken).ConfigureAwait(false);

        // FREEZING turns into FROZEN once every task has stopped; a task stuck in the kernel can take a moment.
        var deadline = Environment.TickCount64 + 5000;
        while (State(id) != state)
        {
            if (Environment.TickCount64 > deadline)
            {
                throw new ContainmentException($"Sandbox '{id}' did not reach freezer state {state} within 5 s (it is {State(id)}).");
            }

            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
        }
    }
}
