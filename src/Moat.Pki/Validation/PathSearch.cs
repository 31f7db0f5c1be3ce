namespace Moat.Pki.Validation;

/// <summary>
/// The refusal to report when no path validates: giving up on the search beats everything (other refusals are then
/// incomplete), then one from a path that reached a root, then a failed link, then running out of depth; among
/// equals the first found is kept.
/// </summary>
internal readonly record struct RankedRefusal(PathRefusal? Refusal, int Rank)
{
    public const int Depth = 1;
    public const int Link = 2;
    public const int CompletePath = 3;
    public const int Exhausted = 4;

    public RankedRefusal Prefer(PathRefusal candidate, int rank) =>
        Refusal is null || rank > Rank ? new RankedRefusal(candidate, rank) : this;

}

/// <summary>What one path search has learnt so far: the refusal to report and the signature checks spent.</summary>
internal sealed class SearchState
{
    private const int Budget = 64;
    private int _signatureChecks;

    public RankedRefusal Best { get; private set; }

    public void Prefer(PathRefusal candidate, int rank) => Best = Best.Prefer(candidate, rank);

    public PathRefusal? Link(ParsedCertificate subject, ParsedCertificate issuer)
    {
        if (++_signatureChecks > Budget)
        {
            // Chains come from the requester; many certificates sharing one subject would make backtracking try
            // every ordering, so the search stops here and refuses.
            var exhausted = new PathRefusal(RefusalReason.NoTrustedPath, $"path building gave up after {Budget} signature checks");
            Prefer(exhausted, RankedRefusal.Exhausted);
            return exhausted;
        }

        return PathValidator.CheckLink(subject, issuer);
    }
}
