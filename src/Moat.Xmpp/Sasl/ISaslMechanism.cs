namespace Moat.Xmpp.Sasl;

/// <summary>One side of a SASL exchange (client role): produces responses to server challenges.</summary>
internal interface ISaslMechanism
{
    string Name { get; }

    byte[] InitialResponse();

    /// <summary>Answers a challenge; returns null when the server's data is not acceptable.</summary>
    byte[]? Respond(byte[] challenge);

    /// <summary>Checks the additional data sent with success (the SCRAM server signature).</summary>
    bool VerifySuccess(byte[] data);
}
