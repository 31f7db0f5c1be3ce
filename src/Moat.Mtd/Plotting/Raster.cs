namespace Moat.Mtd.Plotting;

/// <summary>An RGB colour.</summary>
/// <param name="R">Red.</param>
/// <param name="G">Green.</param>
/// <param name="B">Blue.</param>
public readonly record struct Rgb(byte R, byte G, byte B)
{
    /// <summary>The colour as #rrggbb for SVG.</summary>
    public string Hex => $"#{R:x2}{G:x2}{B:x2}";
}

/// <summary>A small RGB canvas with the few primitives the charts need.</summary>
public sealed class Raster
{
    private readonly byte[] _rgb;

    /// <summary>Creates a canvas filled with <paramref name="background"/>.</summary>
    public Raster(int width, int height, Rgb background)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        Width = width;
        Height = height;
        _rgb = new byte[width * height * 3];
        FillRect(0, 0, width, height, background);
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>The pixels, rows top to bottom, three bytes each.</summary>
    public ReadOnlySpan<byte> Pixels => _rgb;

    /// <summary>The colour at (x, y).</summary>
    public Rgb this[int x, int y]
    {
        get
        {
            var i = ((y * Width) + x) * 3;
            return new Rgb(_rgb[i], _rgb[i + 1], _rgb[i + 2]);
        }
    }

    /// <summary>Sets one pixel; points outside the canvas are clipped.</summary>
    public void Set(int x, int y, Rgb c)
    {
        if ((uint)x >= (uint)Width || (uint)y >= (uint)Height)
        {
            return;
        }

        var i = ((y * Width) + x) * 3;
        _rgb[i] = c.R;
        _rgb[i + 1] = c.G;
        _rgb[i + 2] = c.B;
    }

    /// <summary>Fills the rectangle [x, x+w) × [y, y+h).</summary>
    public void FillRect(int x, int y, int w, int h, Rgb c)
    {
        for (var yy = Math.Max(0, y); yy < Math.Min(Height, y + h); yy++)
        {
            for (var xx = Math.Max(0, x); xx < Math.Min(Width, x + w); xx++)
            {
                Set(xx, yy, c);
            }
        }
    }

    /// <summary>Draws a line (Bresenham) with a square pen of <paramref name="thickness"/> pixels.</summary>
    public void Line(int x0, int y0, int x1, int y1, Rgb c, int thickness = 1)
    {
        int dx = Math.Abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
        int dy = -Math.Abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
        var err = dx + dy;
        var half = (thickness - 1) / 2;
        while (true)
        {
            FillRect(x0 - half, y0 - half, thickness, thickness, c);
            if (x0 == x1 && y0 == y1)
            {
                return;
            }

            var e2 = 2 * err;
            if (e2 >= dy)
            {
                err += dy;
                x0 += sx;
            }

            if (e2 <= dx)
            {
                err += dx;
                y0 += sy;
            }
        }
    }

    /// <summary>Draws text with the built-in 5×7 font, <paramref name="scale"/> pixels per font dot; returns the width drawn.</summary>
    public int Text(int x, int y, string text, Rgb c, int scale = 1)
    {
        ArgumentNullException.ThrowIfNull(text);
        var cx = x;
        foreach (var ch in text)
        {
            var glyph = Font5x7.Glyph(ch);
            for (var col = 0; col < 5; col++)
            {
                for (var row = 0; row < 7; row++)
                {
                    if ((glyph[col] >> row & 1) != 0)
                    {
                        FillRect(cx + (col * scale), y + (row * scale), scale, scale, c);
                    }
                }
            }

            cx += 6 * scale;
        }

        return cx - x;
    }

    /// <summary>The width <see cref="Text"/> would draw.</summary>
    public static int TextWidth(string text, int scale = 1) => text.Length * 6 * scale;
}
