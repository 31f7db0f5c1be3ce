using System.Net;
using Moat.Pki.Validation;

namespace Moat.Pki.AuthCerts;

/// <summary>
/// The answer to "may this user open a path to this address?": either an open path (address, validity window,
/// serial, issuer chain) or the refusal reason and one sentence saying exactly why not.
/// </summary>
public sealed record AuthCertVerdict
{
    public required bool IsOpen { get; init; }

    /// <summary>The address the path opens to (the authcert's IP SAN); null when refused before it was read.</summary>
    public IPAddress? Address { get; init; }

    /// <summary>Start of the window in which every certificate of the path is valid.</summary>
    public DateTimeOffset? ValidFrom { get; init; }

    /// <summary>End of that window: when the host must close the path again.</summary>
    public DateTimeOffset? ValidUntil { get; init; }

    /// <summary>The authcert's serial number in hex.</summary>
    public string? Serial { get; init; }

    /// <summary>The issuers' subjects from the signer (node A or its host) up to the root.</summary>
    public IReadOnlyList<string> IssuerChain { get; init; } = [];

    /// <summary>SHA-256 of the user's SubjectPublicKeyInfo the authcert is for, hex.</summary>
    public string? UserKeyFingerprint { get; init; }

    public RefusalReason Reason { get; init; }

    /// <summary>"open path user→address …" or the sentence naming the certificate and the rule it broke.</summary>
    public required string Explanation { get; init; }

    internal static AuthCertVerdict Refused(RefusalReason reason, string explanation, IPAddress? address = null, string? serial = null) =>
        new() { IsOpen = false, Reason = reason, Explanation = explanation, Address = address, Serial = serial };
}
