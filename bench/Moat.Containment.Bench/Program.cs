// Network containment benchmarks (issue 3). Usage: Moat.Containment.Bench <subcommand> [options]
//   rules      nftables rule application: one sandbox's change with 1/100/1,000 sandboxes loaded, full ruleset, vs `nft -f -`
//   datapath   iperf3 throughput/latency between two namespaces with 1,000 sandboxes' rules loaded vs none
//   shaping    rate limits: iperf3 measured vs configured (one class, two concurrent classes, aggregate cap, ingress,
//              fair share), and one sandbox's shaping change with 1 and 1,000 sandboxes loaded vs the tc/nft CLIs
//   flows      flow log: connections/s recorded and drain lag from conntrack events, vs `conntrack -E` in the same run
//   dns        egress by name: DNS answer to nftables set entry p50/p99 and cost per name at 10,000, vs dnsmasq and `nft add element`
// Every benchmark works inside namespaces it creates and removes; traffic stays in 198.18.0.0/15.
using Moat.Containment.Bench;

var command = args.Length > 0 ? args[0] : "help";
var rest = args.Length > 0 ? args[1..] : [];
switch (command)
{
    case "rules":
        return await RulesBench.RunAsync(rest);
    case "datapath":
        return await DataPathBench.RunAsync(rest);
    case "shaping":
        return await ShapingBench.RunAsync(rest);
    case "flows":
        return await FlowsBench.RunAsync(rest);
    case "dns":
        return await DnsBench.RunAsync(rest);
    default:
        Console.Error.WriteLine("usage: Moat.Containment.Bench <rules|datapath|shaping|flows|dns> [options]");
        return command == "help" ? 0 : 2;
}
