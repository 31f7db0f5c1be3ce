using System.Buffers.Binary;
using System.IO.Compression;
using System.Xml.Linq;
using Moat.Mtd.Plotting;
using Moat.Mtd.Simulation;

namespace Moat.Mtd.Tests.Plotting;

public sealed class ChartTests
{
    private static readonly Figure s_figure = new(
        "test", "x", "y (%)", [0, 10, 20],
        [new Series("a", [100, 50, 0]), new Series("b", [100, 100, 75])]);

    [Fact]
    public void Raster_Line_SetsEndpointsAndDiagonal()
    {
        var r = new Raster(10, 10, new Rgb(255, 255, 255));
        var red = new Rgb(255, 0, 0);
        r.Line(1, 1, 8, 8, red);
        for (var i = 1; i <= 8; i++)
        {
            Assert.Equal(red, r[i, i]);
        }

        Assert.Equal(new Rgb(255, 255, 255), r[8, 1]);
    }

    [Fact]
    public void LineChart_DrawsEachSeriesColourAtItsDataPoints()
    {
        var r = Chart.ToRaster(s_figure, ChartKind.Line);
        Assert.Equal(Chart.Background, r[2, Chart.Height - 2]);

        // Series "a" ends at y = 0 on the right edge of the plot; series "b" ends at 75.
        var right = Chart.Width - Chart.Right;
        Assert.Equal(Chart.Palette[0], r[right, Chart.YPixel(0, 100) - 3]);
        Assert.Equal(Chart.Palette[1], r[right, Chart.YPixel(75, 100)]);
    }

    [Fact]
    public void BarChart_BarsReachTheirValues()
    {
        var r = Chart.ToRaster(s_figure, ChartKind.Bar);
        var plotW = Chart.Width - Chart.Left - Chart.Right;
        var groupW = plotW / 3.0;
        var barW = (int)(groupW * 0.8 / 2);

        // Group 1 (x = 10): bar "a" is 50 high; just above its top is background, just below is its colour.
        var x = Chart.Left + (int)groupW + (int)(groupW * 0.1) + (barW / 2);
        Assert.Equal(Chart.Palette[0], r[x, Chart.YPixel(50, 100) + 2]);
        Assert.NotEqual(Chart.Palette[0], r[x, Chart.YPixel(50, 100) - 3]);
    }

    [Fact]
    public void Svg_IsWellFormed_WithOneLegendEntryAndOneSegmentPerGapForEachSeries()
    {
        var svg = XDocument.Parse(Chart.ToSvg(s_figure, ChartKind.Line));
        XNamespace ns = "http://www.w3.org/2000/svg";
        Assert.Equal(ns + "svg", svg.Root!.Name);
        var texts = svg.Descendants(ns + "text").Select(t => t.Value).ToList();
        Assert.Contains("a", texts);
        Assert.Contains("b", texts);
        foreach (var (series, i) in s_figure.Series.Select((s, i) => (s, i)))
        {
            var segments = svg.Descendants(ns + "line").Count(l => (string?)l.Attribute("stroke") == Chart.Palette[i].Hex);
            Assert.Equal(s_figure.X.Count - 1, segments);
        }
    }

    [Fact]
    public async Task FigureFiles_WritesSixFiles_PngsDecodeToChartSize()
    {
        var dir = Directory.CreateTempSubdirectory("moat-mtd-test-");
        try
        {
            var report = CoResidencySimulator.Run(SimulationOptions.Default with { Trials = 5, AttackerSweep = [1, 2], RateSweep = [1, 2] });
            var files = await FigureFiles.WriteAsync(report, dir.FullName);
            Assert.Equal(6, files.Count);
            foreach (var png in files.Where(f => f.EndsWith(".png", StringComparison.Ordinal)))
            {
                var bytes = await File.ReadAllBytesAsync(png);
                Assert.Equal(Chart.Width, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));
                Assert.Equal(Chart.Height, BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));
                var idatLength = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(33));
                using var z = new ZLibStream(new MemoryStream(bytes, 41, idatLength), CompressionMode.Decompress);
                using var raw = new MemoryStream();
                await z.CopyToAsync(raw);
                Assert.Equal(Chart.Height * (1 + (3 * Chart.Width)), raw.Length);
            }

            foreach (var svg in files.Where(f => f.EndsWith(".svg", StringComparison.Ordinal)))
            {
                XDocument.Parse(await File.ReadAllTextAsync(svg));
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}

public sealed class FontTests
{
    [Fact]
    public void EveryCharacterInTheSimulatorsLabels_HasAGlyph()
    {
        var report = CoResidencySimulator.Run(SimulationOptions.Default with { Trials = 2, AttackerSweep = [1], RateSweep = [1] });
        var labels = new[] { report.Figure4, report.Figure5, report.CostFigure }
            .SelectMany(f => f.Series.Select(s => s.Name).Append(f.Title).Append(f.XLabel).Append(f.YLabel)
                .Concat(f.X.Select(x => x.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture))));
        var missing = labels.SelectMany(l => l).Where(ch => !Font5x7.Has(ch)).Distinct().ToArray();
        Assert.Empty(missing);
    }
}
