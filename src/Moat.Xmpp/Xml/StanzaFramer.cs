using System.Text;

namespace Moat.Xmpp.Xml;

/// <summary>What the framer found next in the byte stream.</summary>
internal enum FrameKind
{
    None,
    StreamHeader,
    Stanza,
    StreamEnd,
}

/// <summary>One framed unit: the stream header, a complete top-level stanza, or the stream end.</summary>
internal readonly record struct Frame(FrameKind Kind, string Text);

/// <summary>
/// Splits a never-ending XMPP byte stream into complete top-level elements without building a tree, so that
/// size and depth are bounded before any XML parser sees the bytes. DTDs, comments, CDATA and processing
/// instructions after the header are refused outright: RFC 6120 §11.1 forbids the ones that matter and refusing
/// <c>&lt;!</c> closes every entity-expansion attack at the door.
/// </summary>
internal sealed class StanzaFramer
{
    private enum State { Text, LessThan, InTag, InQuote, InDeclaration }

    private readonly int maxStanzaBytes;
    private readonly int maxDepth;
    private byte[] buffer = new byte[8192];
    private int start;      // first byte not yet emitted
    private int end;        // one past the last byte received
    private int scan;       // next byte to examine
    private State state = State.Text;
    private byte quote;
    private int depth;
    private int elementStart = -1;
    private bool closingTag;
    private bool headerSeen;

    public StanzaFramer(int maxStanzaBytes, int maxDepth)
    {
        this.maxStanzaBytes = maxStanzaBytes;
        this.maxDepth = maxDepth;
    }

    /// <summary>Forgets everything, as after STARTTLS or SASL success where a new stream begins.</summary>
    public void Reset()
    {
        start = end = scan = 0;
        state = State.Text;
        depth = 0;
        elementStart = -1;
        headerSeen = false;
    }

    /// <summary>Appends received bytes.</summary>
    public void Feed(ReadOnlySpan<byte> data)
    {
        if (end + data.Length > buffer.Length)
        {
            int live = end - start;
            if (live + data.Length > buffer.Length)
            {
                var grown = new byte[Math.Max(buffer.Length * 2, live + data.Length)];
                Buffer.BlockCopy(buffer, start, grown, 0, live);
                buffer = grown;
            }
            else
            {
                Buffer.BlockCopy(buffer, start, buffer, 0, live);
            }

            scan -= start;
            if (elementStart >= 0)
            {
                elementStart -= start;
            }

            end = live;
            start = 0;
        }

        data.CopyTo(buffer.AsSpan(end));
        end += data.Length;
    }

    /// <summary>
    /// Returns the next complete unit, or a frame of kind <see cref="FrameKind.None"/> when more bytes are needed.
    /// Throws <see cref="XmppStreamException"/> on input that violates the limits or is not XMPP.
    /// </summary>
    public Frame Next()
    {
        while (scan < end)
        {
            byte b = buffer[scan];
            switch (state)
            {
                case State.Text:
                    if (b == (byte)'<')
                    {
                        state = State.LessThan;
                        if (depth <= 1)
                        {
                            elementStart = scan;
                        }
                    }
                    else if (depth <= 1 && !IsWhitespace(b))
                    {
                        throw new XmppStreamException("not-well-formed", "text outside any stanza");
                    }

                    break;
                case State.LessThan:
                    if (b == (byte)'!')
                    {
                        throw new XmppStreamException("restricted-xml", "DTDs, comments and CDATA are not allowed in an XMPP stream");
                    }

                    if (b == (byte)'?')
                    {
                        if (headerSeen)
                        {
                            throw new XmppStreamException("restricted-xml", "processing instructions are not allowed in an XMPP stream");
                        }

                        state = State.InDeclaration;
                        break;
                    }

                    closingTag = b == (byte)'/';
                    state = State.InTag;
                    break;
                case State.InDeclaration:
                    if (b == (byte)'>' && buffer[scan - 1] == (byte)'?')
                    {
                        state = State.Text;
                        start = scan + 1;
                        elementStart = -1;
                    }

                    break;
                case State.InQuote:
                    if (b == quote)
                    {
                        state = State.InTag;
                    }
                    else if (b == (byte)'<')
                    {
                        throw new XmppStreamException("not-well-formed", "'<' inside an attribute value");
                    }

                    break;
                case State.InTag:
                    if (b == (byte)'"' || b == (byte)'\'')
                    {
                        quote = b;
                        state = State.InQuote;
                    }
                    else if (b == (byte)'<')
                    {
                        throw new XmppStreamException("not-well-formed", "'<' inside a tag");
                    }
                    else if (b == (byte)'>')
                    {
                        state = State.Text;
                        var frame = TagClosed(selfClosing: buffer[scan - 1] == (byte)'/');
                        scan++;
                        if (frame.Kind != FrameKind.None)
                        {
                            return frame;
                        }

                        continue;
                    }

                    break;
            }

            scan++;
            if (elementStart >= 0 && scan - elementStart > maxStanzaBytes)
            {
                throw new XmppStreamException("policy-violation", $"stanza larger than {maxStanzaBytes} bytes");
            }
        }

        if (elementStart < 0 && depth <= 1 && state == State.Text)
        {
            // Only whitespace since the last frame: drop it so keep-alives do not accumulate.
            start = scan;
        }

        return default;
    }

    private Frame TagClosed(bool selfClosing)
    {
        if (closingTag)
        {
            depth--;
            if (depth == 0)
            {
                return Emit(FrameKind.StreamEnd);
            }

            return depth == 1 ? Emit(FrameKind.Stanza) : default;
        }

        if (depth == 0)
        {
            if (selfClosing)
            {
                throw new XmppStreamException("not-well-formed", "the stream header closed itself");
            }

            headerSeen = true;
            depth = 1;
            return Emit(FrameKind.StreamHeader);
        }

        if (selfClosing)
        {
            return depth == 1 ? Emit(FrameKind.Stanza) : default;
        }

        depth++;
        if (depth > maxDepth + 1)
        {
            throw new XmppStreamException("policy-violation", $"elements nested deeper than {maxDepth}");
        }

        return default;
    }

    private Frame Emit(FrameKind kind)
    {
        int from = elementStart >= 0 ? elementStart : start;
        string text = Encoding.UTF8.GetString(buffer, from, scan + 1 - from);
        start = scan + 1;
        elementStart = -1;
        return new Frame(kind, text);
    }

    private static bool IsWhitespace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n';
}
