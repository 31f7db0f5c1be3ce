namespace Moat.Monitor.Inventory;

/// <summary>Folds exec records into a per-sandbox inventory of what ran: each distinct binary content at a path, and each script.</summary>
public static class InventoryBuilder
{
    public static IReadOnlyList<InventoryEntry> Build(IEnumerable<ExecRecord> records)
    {
        var entries = new Dictionary<(string, string, string?, string?), InventoryEntry>();
        foreach (var r in records)
        {
            Add(entries, ("binary", r.Path, r.Sha256, r.BuildId, r.PackageEcosystem, r.PackageName, r.PackageVersion, r.Drift == true), r);
            if (r.Script is not null)
            {
                Add(entries, ("script", r.Script, null, null, null, null, null, false), r);
            }
        }

        return [.. entries.Values.OrderBy(e => e.SandboxId, StringComparer.Ordinal).ThenBy(e => e.Kind, StringComparer.Ordinal).ThenBy(e => e.Path, StringComparer.Ordinal)];
    }

    private static void Add(
        Dictionary<(string, string, string?, string?), InventoryEntry> entries,
        (string Kind, string? Path, string? Sha256, string? BuildId, string? Ecosystem, string? Package, string? Version, bool Drift) what,
        ExecRecord r)
    {
        if (what.Path is null && what.Sha256 is null)
        {
            return; // nothing is known about this execution's file; the exec record itself says why
        }

        string sandboxId = r.SandboxId ?? "";
        var key = (sandboxId, what.Kind, what.Path, what.Sha256);
        entries[key] = entries.TryGetValue(key, out var e)
            ? e with
            {
                Executions = e.Executions + 1,
                FirstSeen = r.Time < e.FirstSeen ? r.Time : e.FirstSeen,
                LastSeen = r.Time > e.LastSeen ? r.Time : e.LastSeen,
                Package = e.Package ?? what.Package,
                Version = e.Version ?? what.Version,
                Ecosystem = e.Ecosystem ?? what.Ecosystem,
            }
            : new InventoryEntry(sandboxId, what.Kind, what.Path, what.Sha256, what.BuildId, what.Ecosystem, what.Package, what.Version, what.Drift, 1, r.Time, r.Time);
    }
}
