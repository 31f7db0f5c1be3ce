using Moat.Monitor.Inventory;

namespace Moat.Monitor.Tests.Inventory;

public sealed class InventoryBuilderTests
{
    [Fact]
    public void Build_GroupsBySandboxPathAndContent_AndListsScripts()
    {
        var inventory = InventoryBuilder.Build([
            TestRecords.Exec(minutes: 1),
            TestRecords.Exec(minutes: 5),
            TestRecords.Exec(sha: "changed", minutes: 3),
            TestRecords.Exec(path: "/bin/busybox", package: null, version: null, interpreter: "sh", script: "/tmp/x.sh", drift: true),
            TestRecords.Exec(sandbox: "sb-2"),
        ]);

        var curl = Assert.Single(inventory, e => e.SandboxId == "sb-1" && e.Path == "/usr/bin/curl" && e.Sha256 == "aa11");
        Assert.Equal(2, curl.Executions);
        Assert.Equal(TestRecords.T0.AddMinutes(1), curl.FirstSeen);
        Assert.Equal(TestRecords.T0.AddMinutes(5), curl.LastSeen);
        Assert.Equal(("curl", "7.88.1-10+deb12u5"), (curl.Package, curl.Version));
        Assert.Single(inventory, e => e.SandboxId == "sb-1" && e.Sha256 == "changed");
        Assert.Single(inventory, e => e.Kind == "script" && e.Path == "/tmp/x.sh");
        Assert.True(Assert.Single(inventory, e => e.Path == "/bin/busybox").Drift);
        Assert.Single(inventory, e => e.SandboxId == "sb-2");
        Assert.Equal(5, inventory.Count);
    }

    [Fact]
    public void Build_ExecWithNothingKnown_AddsNoEntry()
    {
        var unknown = TestRecords.Exec() with { Path = null, Sha256 = null, Verification = VerificationStatus.ProcessGone };
        Assert.Empty(InventoryBuilder.Build([unknown]));
    }
}
