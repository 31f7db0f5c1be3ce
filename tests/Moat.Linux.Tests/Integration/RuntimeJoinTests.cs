using System.Net;
using System.Text.Json.Nodes;
using Moat.Linux.Plumbing;

namespace Moat.Linux.Tests.Integration;

/// <summary>The consumer the named namespace is made for: an OCI runtime joining it by path.</summary>
[Trait("Category", "Integration")]
public sealed class RuntimeJoinTests : IDisposable
{
    private readonly TestHost _host = new();
    private readonly DirectoryInfo _bundle = Directory.CreateTempSubdirectory("mtlbundle");

    public void Dispose()
    {
        _bundle.Delete(recursive: true);
        _host.Dispose();
    }

    [Fact]
    public void Runc_JoiningTheNamespaceByPath_SeesTheSandboxAddressOnEth0()
    {
        var name = TestNames.Unique("s");
        var hostInterface = TestNames.Unique("v");
        var container = TestNames.Unique("c");
        using var link = SandboxLink.Create(_host.Netlink, name, hostInterface, IPAddress.Parse("198.19.250.60"));
        try
        {
            var rootfs = Directory.CreateDirectory(Path.Combine(_bundle.FullName, "rootfs", "bin"));
            File.Copy("/bin/busybox", Path.Combine(rootfs.FullName, "busybox"));
            Tool.MustRun("runc", "spec", "--bundle", _bundle.FullName);
            var configPath = Path.Combine(_bundle.FullName, "config.json");
            var config = JsonNode.Parse(File.ReadAllText(configPath))!;
            config["process"]!["args"] = new JsonArray("/bin/busybox", "ip", "-4", "-o", "addr", "show", "dev", "eth0");
            config["process"]!["terminal"] = false;
            config["root"]!["path"] = Path.Combine(_bundle.FullName, "rootfs");
            var network = config["linux"]!["namespaces"]!.AsArray().Single(n => (string?)n!["type"] == "network")!;
            network["path"] = link.Namespace.Path;
            File.WriteAllText(configPath, config.ToJsonString());

            var output = Tool.MustRun("runc", "run", "--bundle", _bundle.FullName, container);
            Assert.Contains("inet 198.19.250.60/32", output);
        }
        finally
        {
            try
            {
                Tool.Run("runc", "delete", "--force", container);
            }
            catch (System.ComponentModel.Win32Exception)
            {
                // runc is not installed: there is no container to delete, and the link below must still go.
            }
            finally
            {
                link.Destroy();
            }
        }
    }
}
