using System.Xml.Linq;
using Moat.Host.Agent;
using Moat.Host.Fabric;

namespace Moat.Host.Tests.Fabric;

/// <summary>Hosts publish what an exploit is written against (kernel, OS, CPU, runtime versions); relocation's
/// placement reads it from their status and presence, which other hosts may forge.</summary>
public sealed class HostFeaturesTests
{
    [Fact]
    public void Os_is_id_and_version_of_os_release()
    {
        Assert.Equal("debian-12", HostFeatures.OsOf("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n"));
        Assert.Equal("alpine-3.20.3", HostFeatures.OsOf("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\n"));
        Assert.Equal("arch", HostFeatures.OsOf("NAME=\"Arch Linux\"\nID=arch\n"));
        Assert.Null(HostFeatures.OsOf("NAME=nothing useful\n"));
    }

    [Fact]
    public void Cpu_is_the_first_model_name_else_the_arm_hardware_line()
    {
        Assert.Equal("AMD EPYC 7B13", HostFeatures.CpuOf("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: other\n"));
        Assert.Equal("0xd0c", HostFeatures.CpuOf("processor\t: 0\nBogoMIPS\t: 50.00\nCPU part\t: 0xd0c\n"));
        Assert.Null(HostFeatures.CpuOf("processor\t: 0\n"));
    }

    [Fact]
    [Trait("Category", "Integration")]
    public void This_machine_publishes_its_kernel_os_and_cpu()
    {
        var features = HostFeatures.Read([new Moat.Host.Runtime.TierAvailability(Moat.Host.Sandboxes.RuntimeTier.Container, true, "runc", "") { Version = "runc version 1.1.5" }]);

        Assert.Equal(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), features.Kernel);
        Assert.Equal(HostFeatures.OsOf(File.ReadAllText("/etc/os-release")), features.Os);
        Assert.NotEqual("unknown", features.Cpu);
        Assert.Equal("runc version 1.1.5", features.Runtimes["container"]);
    }

    [Fact]
    public void Features_go_through_presence_unchanged()
    {
        var sent = new HostFeatures("6.18.0", "debian-12", "AMD EPYC 7B13", new Dictionary<string, string> { ["container"] = "runc version 1.1.5", ["gvisor"] = "runsc version release-20221212.0" });
        var presence = new XElement("presence", new XAttribute("from", "host-a@moat.test/agent"), FabricProtocol.StatusElement(1, 2, 3, 4, "v", sent));

        var got = FabricProtocol.ParsePresence(presence)!.Features!;

        Assert.Equal((sent.Kernel, sent.Os, sent.Cpu), (got.Kernel, got.Os, got.Cpu));
        Assert.Equal(sent.Runtimes, got.Runtimes);
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public void A_peers_forged_features_are_cleaned_cut_and_bounded()
    {
        var runtimes = Enumerable.Range(0, 1000).Select(i => new XElement(FabricProtocol.Ns + "runtime", new XAttribute("tier", "t" + i), new XAttribute("version", new string('v', 100_000))));
        var host = new XElement(FabricProtocol.Ns + "host", new XAttribute("sandboxes", 1),
            new XElement(FabricProtocol.Ns + "features", new XAttribute("kernel", "6.18\n\u001b[31mrm -rf /" + new string('k', 1_000_000)), new XAttribute("os", ""),
                runtimes, new XElement(FabricProtocol.Ns + "runtime", new XAttribute("tier", "t0"), new XAttribute("version", "second"))));
        var presence = new XElement("presence", new XAttribute("from", "peer@moat.test/agent"), host);

        var got = FabricProtocol.ParsePresence(presence)!.Features!;

        Assert.Equal(HostFeatures.MaxLength, got.Kernel.Length);
        Assert.StartsWith("6.18[31mrm -rf /", got.Kernel, StringComparison.Ordinal);
        Assert.DoesNotContain(got.Kernel, c => c < ' ' || c > '~');
        Assert.Equal("unknown", got.Os);
        Assert.Equal("unknown", got.Cpu);
        Assert.Equal(FabricProtocol.MaxRuntimes, got.Runtimes.Count);
        Assert.All(got.Runtimes.Values, v => Assert.Equal(HostFeatures.MaxLength, v.Length));
    }
}
