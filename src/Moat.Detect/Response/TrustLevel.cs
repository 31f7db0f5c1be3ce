namespace Moat.Detect.Response;

/// <summary>How much a client is trusted; it selects the row of the response policy.</summary>
public enum TrustLevel
{
    Trusted,
    SemiTrusted,
    Untrusted,
}
