using Moat.Mtd.Policy;

namespace Moat.Mtd.Tests.Policy;

public sealed class RelocationPolicyTableTests
{
    [Fact]
    public void Resolve_PrefersSandboxThenTenantThenDefault()
    {
        var poisson = RelocationPolicy.Poisson(1);
        var periodic = RelocationPolicy.Periodic(TimeSpan.FromHours(2));
        var table = new RelocationPolicyTable(RelocationPolicy.Off)
            .WithTenant("acme", poisson)
            .WithSandbox("sb-special", periodic);

        Assert.Same(periodic, table.Resolve("sb-special", "acme"));
        Assert.Same(poisson, table.Resolve("sb-other", "acme"));
        Assert.Same(RelocationPolicy.Off, table.Resolve("sb-other", "globex"));
    }

    [Fact]
    public void With_DoesNotChangeTheOriginalTable()
    {
        var original = RelocationPolicyTable.Empty;
        var changed = original.WithTenant("acme", RelocationPolicy.OnAlert);
        Assert.Same(RelocationPolicy.Off, original.Resolve("sb", "acme"));
        Assert.Same(RelocationPolicy.OnAlert, changed.Resolve("sb", "acme"));
    }
}
