using System.Collections.Concurrent;
using Moat.Host.Sandboxes;

namespace Moat.Host.Store;

/// <summary>
/// The sandboxes that changed in a <see cref="HostStore"/> since a reader last looked, for a reader that keeps its own
/// copy of the sandboxes (the watchers' directory): it re-reads the rows that changed, not every row on the host.
/// Complete because this process is the store's only writer (the agent holds its state folder's lock).
/// </summary>
public sealed class SandboxChanges : IDisposable
{
    private readonly HostStore _store;
    private readonly ConcurrentDictionary<string, byte> _pending = new(StringComparer.Ordinal);

    internal SandboxChanges(HostStore store)
    {
        _store = store;
        _store.Changed += OnChanged;
    }

    /// <summary>How many sandboxes changed since the last <see cref="Read"/> or <see cref="Clear"/>.</summary>
    public int Pending => _pending.Count;

    /// <summary>Each sandbox that changed since the last call, as stored now (null: it was removed).</summary>
    public IReadOnlyList<(string Id, Sandbox? Sandbox)> Read()
    {
        var changed = new List<(string, Sandbox?)>();
        foreach (var id in _pending.Keys)
        {
            // Taken off before the row is read: a change made during the read is pending again, never lost.
            if (_pending.TryRemove(id, out _))
            {
                changed.Add((id, _store.Get(id)));
            }
        }

        return changed;
    }

    /// <summary>Forgets what is pending, before the reader reads every sandbox afresh.</summary>
    public void Clear() => _pending.Clear();

    public void Dispose() => _store.Changed -= OnChanged;

    private void OnChanged(string id) => _pending[id] = 0;
}
