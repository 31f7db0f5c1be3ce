namespace Moat.Detect.Packets;

/// <summary>Counts the SMTP client commands that measure mail volume in one captured TCP segment: RCPT TO (recipients) and DATA / BDAT ... LAST (messages).</summary>
internal static class SmtpCommands
{
    /// <summary>Submission and relay ports whose client commands are readable (465 is TLS from the first byte).</summary>
    internal static bool IsCleartextSmtpPort(int port) => port is 25 or 587;

    /// <summary>
    /// Counts commands at the start of each line of <paramref name="segment"/>, case-insensitively (RFC 5321 verbs are).
    /// A segment cut by the snapshot length counts what was captured; a line split across segments is missed, which
    /// only undercounts (pipelined clients send whole lines).
    /// </summary>
    internal static (int Recipients, int Messages) Count(ReadOnlySpan<byte> segment)
    {
        int recipients = 0, messages = 0;
        while (!segment.IsEmpty)
        {
            int end = segment.IndexOf((byte)'\n');
            var line = end < 0 ? segment : segment[..end];
            if (StartsWith(line, "RCPT TO:"u8))
            {
                recipients++;
            }
            else if (IsDataCommand(line) || (StartsWith(line, "BDAT "u8) && EndsWithLast(line)))
            {
                messages++;
            }

            segment = end < 0 ? [] : segment[(end + 1)..];
        }

        return (recipients, messages);
    }

    private static bool IsDataCommand(ReadOnlySpan<byte> line)
    {
        line = line.TrimEnd("\r "u8);
        return line.Length == 4 && StartsWith(line, "DATA"u8);
    }

    private static bool EndsWithLast(ReadOnlySpan<byte> line)
    {
        line = line.TrimEnd("\r "u8);
        return line.Length >= 5 && StartsWith(line[^5..], " LAST"u8);
    }

    private static bool StartsWith(ReadOnlySpan<byte> line, ReadOnlySpan<byte> upperPrefix)
    {
        if (line.Length < upperPrefix.Length)
        {
            return false;
        }

        for (int i = 0; i < upperPrefix.Length; i++)
        {
            byte c = line[i];
            if (c is >= (byte)'a' and <= (byte)'z')
            {
                c -= 32;
            }

            if (c != upperPrefix[i])
            {
                return false;
            }
        }

        return true;
    }
}
