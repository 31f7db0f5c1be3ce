using System.Runtime.Versioning;
using Moat.Containment.Rules;
using Moat.Pki.AuthCerts;

namespace Moat.Containment.AuthCerts;

/// <summary>
/// `moat sandbox allow --authcert`: verifies an authorization certificate (chain, address, validity, signature) and
/// opens exactly the path it grants — its address, all ports — to one sandbox until the certificate's notAfter.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class AuthCertOpener(AuthCertVerifier verifier, ContainmentRules rules)
{
    /// <summary>Verifies <paramref name="pem"/> (authcert then chain) and the presenter's proof that it holds the
    /// authcert's user key (made for this sandbox's id), then opens its path; a refusal changes nothing.</summary>
    public AuthCertVerdict Open(string sandboxId, string pem, PossessionProof? proof)
    {
        var verdict = verifier.VerifyPem(pem, requestedAddress: null, userPublicKey: null, new PossessionRequirement(sandboxId, proof));
        if (!verdict.IsOpen)
        {
            return verdict;
        }

        if (verdict.Address is null || verdict.ValidUntil is null)
        {
            throw new ContainmentException("The verifier accepted an authcert without an address or a notAfter; this is a bug in Moat.");
        }

        rules.OpenDestination(sandboxId, verdict.Address, port: null, verdict.ValidUntil.Value);
        return verdict;
    }
}
