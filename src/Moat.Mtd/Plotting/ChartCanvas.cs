using System.Globalization;
using System.Security;
using System.Text;

namespace Moat.Mtd.Plotting;

/// <summary>Where a text's x coordinate sits relative to the text.</summary>
internal enum TextAnchor
{
    Start,
    Middle,
    End,
}

/// <summary>The drawing primitives a chart needs, so one layout drives both the SVG and the PNG.</summary>
internal interface IChartCanvas
{
    void Line(int x0, int y0, int x1, int y1, Rgb color, int width);

    void Rect(int x, int y, int w, int h, Rgb color);

    /// <summary>Draws text whose top edge is at <paramref name="top"/>.</summary>
    void Text(int x, int top, string text, Rgb color, TextAnchor anchor);
}

/// <summary>Draws onto a <see cref="Raster"/> with the bitmap font at twice its size.</summary>
internal sealed class RasterCanvas(Raster raster) : IChartCanvas
{
    private const int Scale = 2;

    public void Line(int x0, int y0, int x1, int y1, Rgb color, int width) => raster.Line(x0, y0, x1, y1, color, width);

    public void Rect(int x, int y, int w, int h, Rgb color) => raster.FillRect(x, y, w, h, color);

    public void Text(int x, int top, string text, Rgb color, TextAnchor anchor)
    {
        var w = Raster.TextWidth(text, Scale);
        var left = anchor switch { TextAnchor.Middle => x - (w / 2), TextAnchor.End => x - w, _ => x };
        raster.Text(left, top, text, color, Scale);
    }
}

/// <summary>Collects SVG elements.</summary>
internal sealed class SvgCanvas : IChartCanvas
{
    private const int FontSize = 13;
    private readonly StringBuilder _body = new();

    public void Line(int x0, int y0, int x1, int y1, Rgb color, int width) =>
        _body.Append(CultureInfo.InvariantCulture, $"<line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y1}\" stroke=\"{color.Hex}\" stroke-width=\"{width}\" stroke-linecap=\"square\"/>\n");

    public void Rect(int x, int y, int w, int h, Rgb color) =>
        _body.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" fill=\"{color.Hex}\"/>\n");

    public void Text(int x, int top, string text, Rgb color, TextAnchor anchor)
    {
        var a = anchor switch { TextAnchor.Middle => "middle", TextAnchor.End => "end", _ => "start" };
        _body.Append(CultureInfo.InvariantCulture, $"<text x=\"{x}\" y=\"{top + FontSize}\" fill=\"{color.Hex}\" font-family=\"sans-serif\" font-size=\"{FontSize}\" text-anchor=\"{a}\">{SecurityElement.Escape(text)}</text>\n");
    }

    public string ToSvg(int width, int height) =>
        string.Create(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">\n") + _body + "</svg>\n";
}
