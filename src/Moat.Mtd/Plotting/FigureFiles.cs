using Moat.Mtd.Simulation;

namespace Moat.Mtd.Plotting;

/// <summary>Writes a report's figures as SVG and PNG files.</summary>
public static class FigureFiles
{
    /// <summary>Writes figure4.svg/.png (grouped bars), figure5.svg/.png (lines) and cost.svg/.png (grouped bars) into <paramref name="directory"/>; returns the paths.</summary>
    public static async Task<IReadOnlyList<string>> WriteAsync(SimulationReport report, string directory, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var written = new List<string>();
        foreach (var (name, figure, kind) in new[] { ("figure4", report.Figure4, ChartKind.Bar), ("figure5", report.Figure5, ChartKind.Line), ("cost", report.CostFigure, ChartKind.Bar) })
        {
            var svg = Path.Combine(directory, name + ".svg");
            await File.WriteAllTextAsync(svg, Chart.ToSvg(figure, kind), cancellationToken).ConfigureAwait(false);
            var png = Path.Combine(directory, name + ".png");
            await File.WriteAllBytesAsync(png, Chart.ToPng(figure, kind), cancellationToken).ConfigureAwait(false);
            written.Add(svg);
            written.Add(png);
        }

        return written;
    }
}
