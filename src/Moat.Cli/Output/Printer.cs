using System.Text.Json;
using Moat.Host.Client;

namespace Moat.Cli.Output;

/// <summary>Writes results for people (aligned tables) or for scripts (--json, one document on stdout).</summary>
internal static class Printer
{
    public static void Json<T>(T value) => Console.Out.WriteLine(JsonSerializer.Serialize(value, HostClient.Json));

    public static void Table(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        var all = rows.ToList();
        var widths = headers.Select((h, i) => Math.Max(h.Length, all.Count == 0 ? 0 : all.Max(r => r[i].Length))).ToArray();
        Console.Out.WriteLine(Line(headers, widths));
        foreach (var r in all)
        {
            Console.Out.WriteLine(Line(r, widths));
        }
    }

    private static string Line(IReadOnlyList<string> cells, int[] widths) =>
        string.Join("  ", cells.Select((c, i) => i == cells.Count - 1 ? c : c.PadRight(widths[i]))).TrimEnd();
}
