using Moat.Linux.Nftables;

namespace Moat.Host.Watch.Throttle;

/// <summary>
/// The data-path scan throttle as nftables rules, in a table of its own (<see cref="Table"/>) whose forward chains run
/// after containment's (priority <see cref="Priority"/>), so only traffic containment let through is counted. Per
/// sandbox, keyed by the host end of its veth (a packet cannot choose the interface it arrives on, so no sandbox can
/// spend or flag another's budget, whatever source address it forges):
/// <list type="number">
/// <item>out of the sandbox: a TCP packet with none of SYN, ACK and RST (a FIN, NULL or Xmas probe) is dropped;
/// packets of connections conntrack knows (established, related) return at once; a
/// destination (address, port) in the sandbox's known set returns; while the sandbox is flagged as failing, any other
/// packet is dropped; past the new-contact budget (a token bucket) it is dropped; otherwise its destination is added to
/// the known set (bounded, with a lifetime) and it passes;</item>
/// <item>into the sandbox: a TCP RST, or an ICMP destination unreachable not sent from another sandbox, that answers
/// a flow the sandbox started (conntrack: established or related) is a failed contact; past the failure budget the
/// sandbox is flagged for
/// <see cref="ScanThrottleOptions.BlockFor"/>.</item>
/// </list>
/// No user-space verdict is involved: the first probe past the budget is dropped by the kernel.
/// </summary>
public static class ScanThrottleRules
{
    public const string Table = "moat_throttle";
    public const int Priority = 10;

    private const NftFamily Inet = NftFamily.Inet;
    private const string OutMap = "out_sandboxes";
    private const string InMap = "in_sandboxes";

    /// <summary>The table, its two forward chains and the interface maps that send each sandbox's packets to its chains (idempotent).</summary>
    public static NftTransaction Install(NftTransaction t)
    {
        ArgumentNullException.ThrowIfNull(t);
        return t.AddTable(Inet, Table)
            .AddSet(Inet, Table, NftSetSpec.InterfaceVerdictMap(OutMap))
            .AddSet(Inet, Table, NftSetSpec.InterfaceVerdictMap(InMap))
            .AddBaseChain(Inet, Table, "out", NftHook.Forward, Priority, NftVerdict.Accept)
            .FlushChain(Inet, Table, "out")
            .AddRule(Inet, Table, "out", [new NftMeta(NftMetaKey.InputInterfaceName), new NftLookup(OutMap, NftRegister.R0, NftRegister.Verdict)])
            .AddBaseChain(Inet, Table, "in", NftHook.Forward, Priority, NftVerdict.Accept)
            .FlushChain(Inet, Table, "in")
            .AddRule(Inet, Table, "in", [new NftMeta(NftMetaKey.OutputInterfaceName), new NftLookup(InMap, NftRegister.R0, NftRegister.Verdict)]);
    }

    /// <summary>Removes the whole table (every sandbox's throttle).</summary>
    public static NftTransaction Uninstall(NftTransaction t) => t.DestroyTable(Inet, Table);

    /// <summary>Chains and sets of one sandbox, and its entries in the interface maps; <see cref="Install"/> first.</summary>
    public static NftTransaction AddSandbox(NftTransaction t, string sandboxId, string hostInterface, ScanThrottleOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(t);
        ArgumentException.ThrowIfNullOrEmpty(sandboxId);
        ArgumentException.ThrowIfNullOrEmpty(hostInterface);
        var o = options ?? ScanThrottleOptions.Default;
        string outChain = OutChain(sandboxId), inChain = InChain(sandboxId), known = KnownSet(sandboxId), failing = FailingSet(sandboxId);
        t.AddSet(Inet, Table, NftSetSpec.Ipv4AddressAndPort(known, timeout: true) with { Dynamic = true, MaxElements = o.MaxContactsPerSandbox })
            .AddSet(Inet, Table, NftSetSpec.Ipv4Addresses(failing, timeout: true) with { Dynamic = true, MaxElements = 4 })
            .AddChain(Inet, Table, outChain)
            .FlushChain(Inet, Table, outChain)
            .AddChain(Inet, Table, inChain)
            .FlushChain(Inet, Table, inChain);

        // Out of the sandbox. Every TCP segment after a SYN carries ACK, so one with none of SYN, ACK and RST (a lone
        // FIN, NULL, Xmas: stealth probes, answered by a RST conntrack cannot relate) belongs to no connection.
        t.AddRule(Inet, Table, outChain, [.. L4(6), new NftPayload(NftPayloadBase.Transport, 13, 1), new NftBitwise([0x16], [0x00]), NftCmp.Equal([0x00]), new NftCounter(), new NftImmediate(NftVerdict.Drop)], "stealth probe dropped")
            .AddRule(Inet, Table, outChain, [.. KnownConnection(), new NftImmediate(NftVerdict.Return)], "known connection")
            .AddRule(Inet, Table, outChain, [.. Ipv4(), .. ContactKey(), new NftLookup(known, NftRegister.R0), new NftImmediate(NftVerdict.Return)], "known contact")
            .AddRule(Inet, Table, outChain, [.. Ipv4(), NftPayload.Ipv4Source(), new NftLookup(failing), new NftCounter(), new NftImmediate(NftVerdict.Drop)], "failing: new contact dropped")
            .AddRule(Inet, Table, outChain, [new NftLimit(o.NewContactsPerSecond, 1, o.NewContactBurst, NftLimitType.Packets, Invert: true), new NftCounter(), new NftImmediate(NftVerdict.Drop)], "over budget: new contact dropped")
            .AddRule(Inet, Table, outChain, [.. Ipv4(), .. ContactKey(), new NftDynset(known, NftDynsetOp.Add, NftRegister.R0, o.ContactLifetime), new NftCounter()], "new contact");

        // Into the sandbox: failures of its own flows.
        NftExpression[] flag = [new NftLimit(o.FailuresPerMinute, 60, o.FailureBurst, NftLimitType.Packets, Invert: true), NftPayload.Ipv4Destination(), new NftDynset(failing, NftDynsetOp.Update, NftRegister.R0, o.BlockFor), new NftCounter()];
        t.AddRule(Inet, Table, inChain, [.. Ipv4(), .. KnownConnection(), .. L4(6), new NftPayload(NftPayloadBase.Transport, 13, 1), new NftBitwise([0x04], [0x00]), NftCmp.NotEqual([0x00]), .. flag], "tcp rst")
            .AddRule(Inet, Table, inChain, [.. Ipv4(), .. KnownConnection(), .. L4(1), NftPayload.IcmpType(), NftCmp.Equal([3]), .. FromOutsideThePool(), .. flag], "icmp unreachable");

        return t.AddElements(Inet, Table, OutMap, [NftElement.InterfaceVerdict(hostInterface, NftVerdict.Jump(outChain))])
            .AddElements(Inet, Table, InMap, [NftElement.InterfaceVerdict(hostInterface, NftVerdict.Jump(inChain))]);
    }

    /// <summary>Removes a sandbox's map entries, chains and sets (each only if present).</summary>
    public static NftTransaction RemoveSandbox(NftTransaction t, string sandboxId, string hostInterface)
    {
        ArgumentNullException.ThrowIfNull(t);
        return t.DestroyElements(Inet, Table, OutMap, [NftElement.InterfaceVerdict(hostInterface, NftVerdict.Jump(OutChain(sandboxId)))])
            .DestroyElements(Inet, Table, InMap, [NftElement.InterfaceVerdict(hostInterface, NftVerdict.Jump(InChain(sandboxId)))])
            .DestroyChain(Inet, Table, OutChain(sandboxId))
            .DestroyChain(Inet, Table, InChain(sandboxId))
            .DestroySet(Inet, Table, KnownSet(sandboxId))
            .DestroySet(Inet, Table, FailingSet(sandboxId));
    }

    public static string KnownSet(string sandboxId) => "k_" + sandboxId;

    public static string FailingSet(string sandboxId) => "f_" + sandboxId;

    private static string OutChain(string sandboxId) => "o_" + sandboxId;

    private static string InChain(string sandboxId) => "i_" + sandboxId;

    /// <summary>
    /// Not from another sandbox's veth. Conntrack relates an ICMP error to the flow it quotes whoever sent it, so a
    /// neighbour could forge unreachables to get a sandbox throttled; a RST needs no such rule, as conntrack matches it
    /// to the flow's own peer address and port and checks its sequence number.
    /// </summary>
    private static NftExpression[] FromOutsideThePool() => [new NftMeta(NftMetaKey.InputInterfaceName), new NftLookup(OutMap, NftRegister.R0, Invert: true)];

    private static NftExpression[] Ipv4() => [new NftMeta(NftMetaKey.NfProto), NftCmp.Equal([2])];

    private static NftExpression[] L4(byte protocol) => [new NftMeta(NftMetaKey.L4Proto), NftCmp.Equal([protocol])];

    /// <summary>ct state established or related: a packet of a flow conntrack already knows.</summary>
    private static NftExpression[] KnownConnection() =>
        [new NftCtStateLoad(), new NftBitwise(NftValue.HostU32((uint)(NftCtState.Established | NftCtState.Related)), new byte[4]), NftCmp.NotEqual(new byte[4])];

    /// <summary>`ip daddr . th dport` into R0, R1 (for a protocol without ports the load fails and the rule ends).</summary>
    private static NftExpression[] ContactKey() => [NftPayload.Ipv4Destination(NftRegister.R0), NftPayload.DestinationPort(NftRegister.R1)];
}
