namespace Moat.Xmpp;

/// <summary>Base of every error the XMPP library raises.</summary>
public class XmppException : Exception
{
    public XmppException(string message)
        : base(message)
    {
    }

    public XmppException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>The connection is not up (never connected, lost, or disposed) so the request could not complete.</summary>
public sealed class XmppDisconnectedException : XmppException
{
    public XmppDisconnectedException(string message)
        : base(message)
    {
    }
}

/// <summary>SASL authentication failed or no acceptable mechanism was offered.</summary>
public sealed class XmppAuthenticationException : XmppException
{
    public XmppAuthenticationException(string message)
        : base(message)
    {
    }
}
