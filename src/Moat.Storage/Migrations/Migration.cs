using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;

namespace Moat.Storage.Migrations;

/// <summary>One numbered schema change: applied once, in order, in its own transaction.</summary>
public sealed record Migration(int Version, string Name, string Sql)
{
    /// <summary>
    /// Reads the migrations embedded in <paramref name="assembly"/> under <paramref name="prefix"/> (a resource name
    /// such as <c>Moat.Jobs.Store.Migrations.Postgres.0002_leases.sql</c>): numbered from 1 without gaps.
    /// </summary>
    public static IReadOnlyList<Migration> FromResources(Assembly assembly, string prefix)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        var list = new List<Migration>();
        foreach (string resource in assembly.GetManifestResourceNames())
        {
            if (!resource.StartsWith(prefix, StringComparison.Ordinal) || !resource.EndsWith(".sql", StringComparison.Ordinal))
            {
                continue;
            }

            string file = resource[prefix.Length..].TrimStart('.');
            var match = Regex.Match(file, @"^(\d{4})_([a-z0-9_]+)\.sql$", RegexOptions.CultureInvariant);
            if (!match.Success)
            {
                throw new StorageException($"The migration resource {resource} is misnamed: use NNNN_name.sql (four digits, lower-case name).");
            }

            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            list.Add(new Migration(int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture), match.Groups[2].Value, reader.ReadToEnd()));
        }

        return Ordered(list);
    }

    /// <summary>Sorts migrations and checks they are numbered 1, 2, 3… with no gap or duplicate.</summary>
    public static IReadOnlyList<Migration> Ordered(IEnumerable<Migration> migrations)
    {
        var sorted = migrations.OrderBy(m => m.Version).ToList();
        for (int i = 0; i < sorted.Count; i++)
        {
            if (sorted[i].Version != i + 1)
            {
                throw new StorageException($"Migration {sorted[i].Version} ({sorted[i].Name}) breaks the numbering: migrations are numbered 1, 2, 3… without gaps or duplicates, and {i + 1} was expected.");
            }
        }

        return sorted;
    }
}
