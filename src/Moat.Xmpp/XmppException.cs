namespace Moat.Xmpp;

/// <summary>Base of every error the XMPP library raises.</summary>
public class XmppException : MoatException
{
    public XmppException(string message)
        : base(ErrorKind.Internal, message)
    {
    }

    public XmppException(string message, Exception inner)
        : base(ErrorKind.Internal, message, inner)
    {
    }

    protected XmppException(ErrorKind kind, string message, Exception? inner = null)
        : base(kind, message, inner)
    {
    }

    /// <summary>The kind of failure a stanza error condition (RFC 6120 §8.3.3) names.</summary>
    public static ErrorKind KindOfCondition(string? condition) => condition switch
    {
        "bad-request" or "jid-malformed" or "not-acceptable" or "feature-not-implemented" => ErrorKind.Invalid,
        "forbidden" or "not-allowed" or "not-authorized" or "policy-violation" or "resource-constraint" or "conflict" => ErrorKind.Refused,
        "item-not-found" or "recipient-unavailable" or "gone" => ErrorKind.NotFound,
        "service-unavailable" or "remote-server-not-found" or "remote-server-timeout" => ErrorKind.Unavailable,
        _ => ErrorKind.Internal,
    };
}

/// <summary>The connection is not up (never connected, lost, or disposed) so the request could not complete.</summary>
public sealed class XmppDisconnectedException : XmppException
{
    public XmppDisconnectedException(string message)
        : base(ErrorKind.Unavailable, message)
    {
    }
}

/// <summary>SASL authentication failed or no acceptable mechanism was offered.</summary>
public sealed class XmppAuthenticationException : XmppException
{
    public XmppAuthenticationException(string message)
        : base(ErrorKind.Refused, message)
    {
    }
}
