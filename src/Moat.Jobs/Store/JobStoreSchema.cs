using System.Text;
using Moat.Storage.Migrations;

namespace Moat.Jobs.Store;

/// <summary>The job stores' numbered migrations (embedded <c>Store/Migrations/{Sqlite,Postgres}/NNNN_name.sql</c>) and shared text rules.</summary>
internal static class JobStoreSchema
{
    /// <summary>The scope of the job tables in <c>schema_version</c>; other components may share the database.</summary>
    public const string Scope = "jobs";

    public static MigrationRunner Runner(SqlDialect dialect, TimeProvider time) => new(
        dialect, Scope,
        Migration.FromResources(typeof(JobStoreSchema).Assembly, $"Moat.Jobs.Store.Migrations.{(dialect == SqlDialect.Sqlite ? "Sqlite" : "Postgres")}."),
        time);

    /// <summary>
    /// A worker's output as stored: a NUL or an unpaired surrogate (which PostgreSQL's UTF-8 text cannot hold, and
    /// which the XML stream cannot carry anyway) becomes U+FFFD, identically in every store.
    /// </summary>
    public static string CleanOutput(string output)
    {
        bool clean = !output.Contains('\0', StringComparison.Ordinal);
        for (int i = 0; clean && i < output.Length; i++)
        {
            if (char.IsHighSurrogate(output[i]) && i + 1 < output.Length && char.IsLowSurrogate(output[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(output[i]))
            {
                clean = false;
            }
        }

        if (clean)
        {
            return output;
        }

        var builder = new StringBuilder(output.Length);
        for (int i = 0; i < output.Length; i++)
        {
            char c = output[i];
            if (char.IsHighSurrogate(c) && i + 1 < output.Length && char.IsLowSurrogate(output[i + 1]))
            {
                builder.Append(c).Append(output[++i]);
            }
            else
            {
                builder.Append(c == '\0' || char.IsSurrogate(c) ? '\uFFFD' : c);
            }
        }

        return builder.ToString();
    }
}
