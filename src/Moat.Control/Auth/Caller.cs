using Moat.Control.Store;

namespace Moat.Control.Auth;

/// <summary>Who is calling: the key that authenticated the request, its client and its scope.</summary>
public sealed record Caller(string KeyId, string Client, KeyScope Scope)
{
    public bool IsAdmin => Scope == KeyScope.Admin;
}
