using System.Globalization;
using Moat.Mtd.Simulation;

namespace Moat.Mtd.Plotting;

/// <summary>How a figure is drawn.</summary>
public enum ChartKind
{
    /// <summary>One polyline per series over a numeric x axis.</summary>
    Line,

    /// <summary>Grouped bars, one group per x value.</summary>
    Bar,
}

/// <summary>Draws a <see cref="Figure"/> as an SVG document or a PNG image from one layout.</summary>
public static class Chart
{
    /// <summary>Default image width in pixels.</summary>
    public const int Width = 1000;

    /// <summary>Default image height in pixels.</summary>
    public const int Height = 560;

    /// <summary>Series colours, in series order (colour-blind-safe Okabe–Ito palette).</summary>
    public static readonly IReadOnlyList<Rgb> Palette =
    [
        new(0x00, 0x00, 0x00), new(0xE6, 0x9F, 0x00), new(0x56, 0xB4, 0xE9), new(0x00, 0x9E, 0x73),
        new(0xD5, 0x5E, 0x00), new(0xCC, 0x79, 0xA7), new(0x00, 0x72, 0xB2),
    ];

    internal static readonly Rgb Background = new(0xFF, 0xFF, 0xFF);
    internal static readonly Rgb Ink = new(0x20, 0x20, 0x20);
    internal static readonly Rgb Grid = new(0xDD, 0xDD, 0xDD);

    // Plot area margins: room for tick labels on the left, the legend on the right.
    internal const int Left = 80;
    internal const int Right = 270;
    internal const int Top = 60;
    internal const int Bottom = 80;

    /// <summary>The figure as an SVG document.</summary>
    public static string ToSvg(Figure figure, ChartKind kind)
    {
        var canvas = new SvgCanvas();
        canvas.Rect(0, 0, Width, Height, Background);
        Draw(figure, kind, canvas);
        return canvas.ToSvg(Width, Height);
    }

    /// <summary>The figure rasterised.</summary>
    public static Raster ToRaster(Figure figure, ChartKind kind)
    {
        var raster = new Raster(Width, Height, Background);
        Draw(figure, kind, new RasterCanvas(raster));
        return raster;
    }

    /// <summary>The figure as a PNG file.</summary>
    public static byte[] ToPng(Figure figure, ChartKind kind)
    {
        var r = ToRaster(figure, kind);
        return PngEncoder.Encode(r.Width, r.Height, r.Pixels);
    }

    /// <summary>The pixel row of value <paramref name="y"/> on a 0..<paramref name="yMax"/> axis.</summary>
    internal static int YPixel(double y, double yMax) =>
        Top + (int)Math.Round((Height - Top - Bottom) * (1 - (y / yMax)));

    internal static double AxisMax(Figure figure)
    {
        var max = figure.Series.SelectMany(s => s.Values).DefaultIfEmpty(0).Max();
        if (max <= 100)
        {
            return 100;
        }

        var step = Math.Pow(10, Math.Floor(Math.Log10(max)));
        return Math.Ceiling(max / step) * step;
    }

    private static void Draw(Figure figure, ChartKind kind, IChartCanvas c)
    {
        ArgumentNullException.ThrowIfNull(figure);
        var c0 = CultureInfo.InvariantCulture;
        int plotW = Width - Left - Right, plotH = Height - Top - Bottom;
        var yMax = AxisMax(figure);

        c.Text(Width / 2, 16, figure.Title, Ink, TextAnchor.Middle);
        c.Text(Left, Top - 24, figure.YLabel, Ink, TextAnchor.Start);
        c.Text(Left + (plotW / 2), Height - 30, figure.XLabel, Ink, TextAnchor.Middle);

        for (var i = 0; i <= 5; i++)
        {
            var v = yMax * i / 5;
            var y = YPixel(v, yMax);
            c.Line(Left, y, Left + plotW, y, Grid, 1);
            c.Text(Left - 8, y - 7, v.ToString("0.##", c0), Ink, TextAnchor.End);
        }

        var n = figure.X.Count;
        if (kind == ChartKind.Bar)
        {
            var groupW = (double)plotW / Math.Max(1, n);
            var barW = Math.Max(1, (int)(groupW * 0.8 / Math.Max(1, figure.Series.Count)));
            for (var i = 0; i < n; i++)
            {
                var gx = Left + (int)(groupW * i) + (int)(groupW * 0.1);
                for (var s = 0; s < figure.Series.Count; s++)
                {
                    var top = YPixel(figure.Series[s].Values[i], yMax);
                    c.Rect(gx + (s * barW), top, barW - 1, Top + plotH - top, Palette[s % Palette.Count]);
                }

                c.Text(Left + (int)(groupW * (i + 0.5)), Top + plotH + 8, figure.X[i].ToString("0.##", c0), Ink, TextAnchor.Middle);
            }
        }
        else
        {
            double xMin = n == 0 ? 0 : figure.X.Min(), xMax = n == 0 ? 1 : figure.X.Max();
            var span = xMax > xMin ? xMax - xMin : 1;
            int XPixel(double x) => Left + (int)Math.Round(plotW * (x - xMin) / span);
            for (var i = 0; i < n; i++)
            {
                c.Text(XPixel(figure.X[i]), Top + plotH + 8, figure.X[i].ToString("0.##", c0), Ink, TextAnchor.Middle);
            }

            for (var s = 0; s < figure.Series.Count; s++)
            {
                var color = Palette[s % Palette.Count];
                var v = figure.Series[s].Values;
                for (var i = 0; i < n; i++)
                {
                    int x = XPixel(figure.X[i]), y = YPixel(v[i], yMax);
                    c.Rect(x - 3, y - 3, 7, 7, color);
                    if (i > 0)
                    {
                        c.Line(XPixel(figure.X[i - 1]), YPixel(v[i - 1], yMax), x, y, color, 2);
                    }
                }
            }
        }

        // Axes last so bars and lines do not cover them.
        c.Line(Left, Top, Left, Top + plotH, Ink, 2);
        c.Line(Left, Top + plotH, Left + plotW, Top + plotH, Ink, 2);

        for (var s = 0; s < figure.Series.Count; s++)
        {
            var y = Top + (s * 26);
            c.Rect(Left + plotW + 20, y, 16, 16, Palette[s % Palette.Count]);
            c.Text(Left + plotW + 44, y + 1, figure.Series[s].Name, Ink, TextAnchor.Start);
        }
    }
}
