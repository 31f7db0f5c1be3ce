using System.Globalization;
using System.Text;

namespace Moat.Cli.Front;

/// <summary>One HTTP/1.1 response from the agent: status and body (de-chunked).</summary>
internal sealed record AgentResponse(int Status, byte[] Body)
{
    /// <summary>The most this front reads from the agent (the full CLI has no such bound; a bigger answer goes
    /// unread and the front says so).</summary>
    public const int MaxBytes = 64 << 20;

    /// <summary>Reads a whole response (the request asked for Connection: close, so it ends at end of stream). Returns
    /// null with a reason when the bytes are not a response this front understands.</summary>
    public static AgentResponse? Parse(ReadOnlySpan<byte> raw, out string? error)
    {
        error = null;
        var headEnd = raw.IndexOf("\r\n\r\n"u8);
        if (headEnd < 0)
        {
            error = "the response has no end of headers";
            return null;
        }

        var head = Encoding.ASCII.GetString(raw[..headEnd]);
        var lines = head.Split("\r\n");
        var status = lines[0].Split(' ', 3);
        if (status.Length < 2 || !status[0].StartsWith("HTTP/1.", StringComparison.Ordinal) || status[1].Length != 3
            || !int.TryParse(status[1], NumberStyles.None, CultureInfo.InvariantCulture, out var code) || code < 100)
        {
            error = "the status line is not HTTP/1.x";
            return null;
        }

        long? length = null;
        var chunked = false;
        foreach (var line in lines.AsSpan(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                error = "a header line has no name";
                return null;
            }

            var name = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var l) || (length is { } prior && prior != l))
                {
                    error = "the Content-Length header is not one number";
                    return null;
                }

                length = l;
            }
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                if (!value.Equals("chunked", StringComparison.OrdinalIgnoreCase))
                {
                    error = $"the transfer encoding '{value}' is not chunked";
                    return null;
                }

                chunked = true;
            }
        }

        var body = raw[(headEnd + 4)..];
        if (chunked)
        {
            return Dechunk(body, out var decoded, out error) ? new AgentResponse(code, decoded) : null;
        }

        if (length is { } n)
        {
            if (n > body.Length)
            {
                error = $"the body ended after {body.Length} of its {n} bytes";
                return null;
            }

            body = body[..(int)n];
        }

        return new AgentResponse(code, body.ToArray());
    }

    private static bool Dechunk(ReadOnlySpan<byte> body, out byte[] decoded, out string? error)
    {
        var output = new List<byte>(body.Length);
        decoded = [];
        while (true)
        {
            var lineEnd = body.IndexOf("\r\n"u8);
            if (lineEnd < 0)
            {
                error = "a chunk has no size line";
                return false;
            }

            var sizeText = Encoding.ASCII.GetString(body[..lineEnd]);
            var semicolon = sizeText.IndexOf(';', StringComparison.Ordinal);
            if (semicolon >= 0)
            {
                sizeText = sizeText[..semicolon];
            }

            if (sizeText.Length is 0 or > 8 || !int.TryParse(sizeText, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var size) || size < 0)
            {
                error = "a chunk size is not a hexadecimal number below 2^31";
                return false;
            }

            body = body[(lineEnd + 2)..];
            if (size == 0)
            {
                decoded = output.ToArray();
                error = null;
                return true;
            }

            if (body.Length < (long)size + 2 || body[size] != (byte)'\r' || body[size + 1] != (byte)'\n')
            {
                error = "a chunk is shorter than its size";
                return false;
            }

            output.AddRange(body[..size]);
            body = body[(size + 2)..];
        }
    }
}
