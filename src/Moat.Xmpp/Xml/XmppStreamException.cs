namespace Moat.Xmpp.Xml;

/// <summary>The peer sent something that is not an acceptable XMPP stream; the stream must be closed with this condition.</summary>
public sealed class XmppStreamException : XmppException
{
    public XmppStreamException(string condition, string message)
        : base($"XMPP stream error ({condition}): {message}")
    {
        Condition = condition;
    }

    /// <summary>The RFC 6120 §4.9.3 stream error condition to report.</summary>
    public string Condition { get; }
}
