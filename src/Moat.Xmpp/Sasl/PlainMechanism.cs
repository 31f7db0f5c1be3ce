using System.Text;

namespace Moat.Xmpp.Sasl;

/// <summary>RFC 4616 PLAIN; only ever used inside TLS or on loopback when explicitly allowed.</summary>
internal sealed class PlainMechanism(string username, string password) : ISaslMechanism
{
    public string Name => "PLAIN";

    public byte[] InitialResponse() => Encoding.UTF8.GetBytes("\0" + username + "\0" + password);

    public byte[]? Respond(byte[] challenge) => null;

    public bool VerifySuccess(byte[] data) => true;
}
