using Moat.Mtd.Placement;

namespace Moat.Mtd.Simulation;

/// <summary>Generates a heterogeneous fleet of simulated hosts from a seed.</summary>
internal static class HostFleet
{
    private static readonly string[] s_kernels = ["6.1", "6.6", "6.12", "6.18"];
    private static readonly string[] s_images = ["debian-12", "ubuntu-24.04", "alpine-3.20", "fedora-41"];
    private static readonly string[] s_segments = ["seg-a", "seg-b", "seg-c", "seg-d", "seg-e"];
    private static readonly string[] s_uplinks = ["uplink-1", "uplink-2"];
    private static readonly string[] s_services = ["web", "db", "cache", "queue", "ml", "build", "mail", "dns"];

    /// <summary>Creates <paramref name="count"/> hosts with <paramref name="slotsPerHost"/> slots, up to half of them used by background tenants.</summary>
    public static HostInfo[] Generate(int count, int slotsPerHost, Random random)
    {
        var hosts = new HostInfo[count];
        for (var i = 0; i < count; i++)
        {
            var tierDraw = random.NextDouble();
            var tier = tierDraw < 0.5 ? RuntimeTier.Container : tierDraw < 0.8 ? RuntimeTier.Gvisor : RuntimeTier.Vm;
            var config = new HostConfiguration(tier, Pick(s_kernels, random), Pick(s_images, random));
            var network = new NetworkLocation(Pick(s_segments, random), Pick(s_uplinks, random));
            var services = new HashSet<string>(StringComparer.Ordinal);
            var want = 2 + random.Next(3);
            while (services.Count < want)
            {
                services.Add(Pick(s_services, random));
            }

            var used = random.Next(slotsPerHost / 2 + 1);
            var tenants = new HashSet<string>(StringComparer.Ordinal);
            for (var t = 0; t < used; t++)
            {
                tenants.Add($"tenant-{random.Next(10):00}");
            }

            hosts[i] = new HostInfo($"host-{i:00}", config, network, services, slotsPerHost, used, tenants);
        }

        return hosts;
    }

    private static string Pick(string[] items, Random random) => items[random.Next(items.Length)];
}
