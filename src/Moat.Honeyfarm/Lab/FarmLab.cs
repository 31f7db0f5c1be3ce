using System.Net;
using Moat.Honeyfarm.Gateway;
using Moat.Linux.Namespaces;
using Moat.Linux.Netlink;

namespace Moat.Honeyfarm.Lab;

/// <summary>
/// A self-contained honeyfarm for demos and benchmarks: a "test internet" namespace (sources 198.18.96.2-.9)
/// joined by a veth pair to a gateway namespace that owns 198.18.128.0/17. Every address is in RFC 2544 space and
/// every packet stays in the two namespaces and the clones' own.
/// </summary>
public sealed class FarmLab : IAsyncDisposable
{
    public static readonly IPNetwork Dark = IPNetwork.Parse("198.18.128.0/17");
    public static readonly IPAddress GatewayAddress = IPAddress.Parse("198.18.96.1");

    private FarmLab(NetworkNamespace inet, NetworkNamespace gw)
    {
        Internet = inet;
        GatewayNamespace = gw;
    }

    /// <summary>The namespace playing the internet; attackers' sockets are made in it.</summary>
    public NetworkNamespace Internet { get; }

    public NetworkNamespace GatewayNamespace { get; }

    public HoneyfarmGateway Gateway { get; private set; } = null!;

    /// <summary>Source addresses on the internet side, one per simulated attacker.</summary>
    public static IPAddress Source(int i) => IPAddress.Parse($"198.18.96.{2 + i}");

    public static async Task<FarmLab> StartAsync(Func<HoneyfarmOptions, HoneyfarmOptions>? configure = null, CancellationToken cancellationToken = default)
    {
        var suffix = Random.Shared.Next(0x100000, 0xffffff).ToString("x6", System.Globalization.CultureInfo.InvariantCulture);
        var inet = NetworkNamespace.Create("hfl-inet-" + suffix);
        var gw = NetworkNamespace.Create("hfl-gw-" + suffix);
        var lab = new FarmLab(inet, gw);
        try
        {
            using (var g = RtNetlink.OpenIn(gw))
            using (var i = RtNetlink.OpenIn(inet))
            {
                g.CreateVeth(new VethSpec("out0", "eth0", inet) { Up = true });
                g.AddAddress(g.GetLinkIndex("out0")!.Value, GatewayAddress, 24);
                var eth0 = i.GetLinkIndex("eth0")!.Value;
                i.Execute(new NetlinkBatch().SetLinkUp("lo").SetLinkUp(eth0));
                for (var n = 0; n < 8; n++)
                {
                    i.AddAddress(eth0, Source(n), 24);
                }

                i.AddRoute(new RouteSpec(Dark, eth0) { Gateway = GatewayAddress });
            }

            var options = new HoneyfarmOptions { DarkRange = Dark, OutsideInterface = "out0" };
            lab.Gateway = await HoneyfarmGateway.StartAsync(gw, configure?.Invoke(options) ?? options, cancellationToken: cancellationToken).ConfigureAwait(false);
            return lab;
        }
        catch
        {
            await lab.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Gateway is not null)
            {
                await Gateway.DisposeAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            Internet.Dispose();
            GatewayNamespace.Dispose();
            NetworkNamespace.Delete(Internet.Name);
            NetworkNamespace.Delete(GatewayNamespace.Name);
        }
    }
}
