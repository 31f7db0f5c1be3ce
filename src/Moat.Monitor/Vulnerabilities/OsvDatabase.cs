using System.Text.Json;

namespace Moat.Monitor.Vulnerabilities;

/// <summary>Reads OSV advisories (one JSON document per file) from a local folder, e.g. an unpacked OSV export.</summary>
public static class OsvDatabase
{
    public static IReadOnlyList<OsvAdvisory> LoadFolder(string folder)
    {
        if (!Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"The OSV folder '{folder}' does not exist; pass a folder of OSV JSON files.");
        }

        var advisories = new List<OsvAdvisory>();
        foreach (string file in Directory.EnumerateFiles(folder, "*.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            using var stream = File.OpenRead(file);
            try
            {
                using var doc = JsonDocument.Parse(stream);
                advisories.Add(Parse(doc.RootElement));
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                throw new InvalidDataException($"The OSV file '{file}' is not a valid OSV advisory: {ex.Message}", ex);
            }
        }

        return advisories;
    }

    public static OsvAdvisory Parse(JsonElement root)
    {
        string id = root.GetProperty("id").GetString() ?? throw new InvalidDataException("An OSV advisory has no id.");
        string? summary = root.TryGetProperty("summary", out var s) ? s.GetString() : null;
        var affected = new List<OsvAffected>();
        if (root.TryGetProperty("affected", out var list))
        {
            foreach (var a in list.EnumerateArray())
            {
                if (!a.TryGetProperty("package", out var package))
                {
                    continue;
                }

                var ranges = new List<OsvRange>();
                if (a.TryGetProperty("ranges", out var rangeList))
                {
                    foreach (var r in rangeList.EnumerateArray())
                    {
                        var events = new List<OsvEvent>();
                        foreach (var e in r.GetProperty("events").EnumerateArray())
                        {
                            events.Add(new OsvEvent(Text(e, "introduced"), Text(e, "fixed"), Text(e, "last_affected")));
                        }

                        ranges.Add(new OsvRange(Text(r, "type") ?? "", events));
                    }
                }

                var versions = a.TryGetProperty("versions", out var v) ? v.EnumerateArray().Select(x => x.GetString() ?? "").ToList() : [];
                affected.Add(new OsvAffected(Text(package, "ecosystem") ?? "", Text(package, "name") ?? "", ranges, versions));
            }
        }

        return new OsvAdvisory(id, summary, affected);
    }

    private static string? Text(JsonElement e, string name) => e.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
}
