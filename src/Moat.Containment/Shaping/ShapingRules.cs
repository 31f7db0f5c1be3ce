using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using Moat.Linux.Nftables;
using Moat.Linux.Traffic;

namespace Moat.Containment.Shaping;

/// <summary>
/// The nftables side of shaping, as nf_tables netlink transactions: a forward chain sends each packet from a
/// sandbox's veth (map "up", keyed by iifname) and toward it (map "down", by oifname) into that sandbox's own
/// chain, which sets meta priority to the HTB class. One sandbox's change touches only its chains and elements.
/// </summary>
internal static class ShapingRules
{
    private const NftFamily Inet = NftFamily.Inet;
    private const byte NfProtoIpv4 = 2;
    private const byte NfProtoIpv6 = 10;

    /// <summary>The base table: the two maps and the forward chain at mangle priority (-150), before the egress qdiscs see the packet.</summary>
    public static void WriteTable(NftTransaction tx, string table)
    {
        tx.AddTable(Inet, table)
            .AddSet(Inet, table, NftSetSpec.InterfaceVerdictMap("up"))
            .AddSet(Inet, table, NftSetSpec.InterfaceVerdictMap("down"))
            .AddBaseChain(Inet, table, "forward", NftHook.Forward, -150, NftVerdict.Accept)
            .FlushChain(Inet, table, "forward")

            // Whatever priority a packet came with (root in a sandbox can set any) must not pick a class.
            .AddRule(Inet, table, "forward", SetPriority(0), "meta priority set none")
            .AddRule(Inet, table, "forward", [new NftMeta(NftMetaKey.InputInterfaceName), new NftLookup("up", NftRegister.R0, NftRegister.Verdict)], "iifname vmap @up")
            .AddRule(Inet, table, "forward", [new NftMeta(NftMetaKey.OutputInterfaceName), new NftLookup("down", NftRegister.R0, NftRegister.Verdict)], "oifname vmap @down");
    }

    public static string UpChain(int slot, string sandboxId) => $"up-{slot:x}-{sandboxId}";

    public static string DownChain(string sandboxId) => $"dn-{sandboxId}";

    /// <summary>Writes (or rewrites) one sandbox's chains and map elements; <paramref name="previous"/> is what the kernel holds now.</summary>
    public static void WriteSandbox(NftTransaction tx, string table, string sandboxId, string veth, int slot, SandboxRates rates, SandboxRuleState? previous)
    {
        var vethChanged = previous is not null && previous.Veth.Length > 0 && previous.Veth != veth;
        if (vethChanged)
        {
            WriteRemoval(tx, table, previous! with { Slot = -1 });
        }

        var up = UpChain(slot, sandboxId);
        tx.AddChain(Inet, table, up).FlushChain(Inet, table, up);
        for (var j = 1; j <= rates.Flows.Count; j++)
        {
            tx.AddRule(Inet, table, up, FlowRule(rates.Flows[j - 1], outgoing: true, ShapingLayout.UplinkClass(slot, j)), rates.Flows[j - 1].Name);
        }

        tx.AddRule(Inet, table, up, SetPriority(ShapingLayout.UplinkClass(slot, ShapingLayout.RestIndex).Value), "rest");
        if (previous is null || previous.Veth != veth)
        {
            tx.AddElements(Inet, table, "up", [NftElement.InterfaceVerdict(veth, NftVerdict.Jump(up))]);
        }

        var down = DownChain(sandboxId);
        var hadDown = previous is not null && !vethChanged && previous.HasDown;
        if (rates.Ingress is null)
        {
            if (hadDown)
            {
                tx.DeleteElements(Inet, table, "down", [NftElement.InterfaceVerdict(veth, NftVerdict.Jump(down))])
                    .FlushChain(Inet, table, down)
                    .DeleteChain(Inet, table, down);
            }

            return;
        }

        tx.AddChain(Inet, table, down).FlushChain(Inet, table, down);
        for (var j = 1; j <= rates.Flows.Count; j++)
        {
            tx.AddRule(Inet, table, down, FlowRule(rates.Flows[j - 1], outgoing: false, ShapingLayout.VethClass(j)), rates.Flows[j - 1].Name);
        }

        tx.AddRule(Inet, table, down, SetPriority(ShapingLayout.VethClass(ShapingLayout.RestIndex).Value), "rest");
        if (!hadDown)
        {
            tx.AddElements(Inet, table, "down", [NftElement.InterfaceVerdict(veth, NftVerdict.Jump(down))]);
        }
    }

    /// <summary>Deletes one sandbox's map elements and chains (a Slot of -1 keeps the up chain, which is being rewritten).</summary>
    public static void WriteRemoval(NftTransaction tx, string table, SandboxRuleState state)
    {
        var up = UpChain(state.Slot, state.SandboxId);
        if (state.Veth.Length > 0)
        {
            tx.DeleteElements(Inet, table, "up", [NftElement.InterfaceVerdict(state.Veth, NftVerdict.Jump(up))]);
        }

        if (state.HasDown)
        {
            var down = DownChain(state.SandboxId);
            tx.DeleteElements(Inet, table, "down", [NftElement.InterfaceVerdict(state.Veth, NftVerdict.Jump(down))])
                .FlushChain(Inet, table, down)
                .DeleteChain(Inet, table, down);
        }

        if (state.Slot >= 0)
        {
            tx.FlushChain(Inet, table, up).DeleteChain(Inet, table, up);
        }
    }

    /// <summary>Reads the sandboxes the table holds from `nft -j list table inet TABLE`.</summary>
    public static IReadOnlyList<SandboxRuleState> Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        var upChains = new Dictionary<string, int>();
        var upElements = new Dictionary<string, string>();
        var downElements = new Dictionary<string, string>();
        foreach (var item in document.RootElement.GetProperty("nftables").EnumerateArray())
        {
            if (item.TryGetProperty("chain", out var chain))
            {
                var name = chain.GetProperty("name").GetString()!;
                var parts = name.Split('-', 3);
                if (parts.Length == 3 && parts[0] == "up" && int.TryParse(parts[1], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var slot))
                {
                    upChains[name] = slot;
                }
            }
            else if (item.TryGetProperty("map", out var map) && map.TryGetProperty("elem", out var elements))
            {
                var target = map.GetProperty("name").GetString() switch
                {
                    "up" => upElements,
                    "down" => downElements,
                    _ => null,
                };
                foreach (var element in elements.EnumerateArray())
                {
                    // [ "mh1", { "jump": { "target": "up-1-sb" } } ]
                    var key = element[0].GetString();
                    if (target is not null && key is not null && element[1].TryGetProperty("jump", out var jump))
                    {
                        target[key] = jump.GetProperty("target").GetString()!;
                    }
                }
            }
        }

        var result = new List<SandboxRuleState>();
        foreach (var (name, slot) in upChains)
        {
            var sandboxId = name.Split('-', 3)[2];
            var veth = upElements.FirstOrDefault(e => e.Value == name).Key;
            var hasDown = veth is not null && downElements.TryGetValue(veth, out var d) && d == DownChain(sandboxId);
            result.Add(new SandboxRuleState(sandboxId, veth ?? "", slot, hasDown));
        }

        return result;
    }

    private static NftExpression[] SetPriority(uint classId) =>
        [new NftImmediate(NftValue.HostU32(classId), NftRegister.R0), new NftMeta(NftMetaKey.Priority, NftRegister.R0, SetFrom: true)];

    /// <summary>`ip[6] daddr|saddr PREFIX [tcp|udp [dport|sport PORT]] meta priority set CLASS return`.</summary>
    private static List<NftExpression> FlowRule(FlowClass flow, bool outgoing, TcHandle classId)
    {
        var v6 = flow.Remote.BaseAddress.AddressFamily == AddressFamily.InterNetworkV6;
        var expressions = new List<NftExpression>
        {
            new NftMeta(NftMetaKey.NfProto),
            NftCmp.Equal(NftValue.U8(v6 ? NfProtoIpv6 : NfProtoIpv4)),
        };
        if (flow.Remote.PrefixLength > 0)
        {
            var length = v6 ? 16u : 4u;
            var offset = (v6, outgoing) switch
            {
                (false, true) => 16u,
                (false, false) => 12u,
                (true, true) => 24u,
                (true, false) => 8u,
            };
            expressions.Add(new NftPayload(NftPayloadBase.Network, offset, length));
            var network = flow.Remote.BaseAddress.GetAddressBytes();
            if (flow.Remote.PrefixLength < length * 8)
            {
                var mask = Mask(flow.Remote.PrefixLength, (int)length);
                expressions.Add(new NftBitwise(mask, new byte[length]));
            }

            expressions.Add(NftCmp.Equal(network));
        }

        if (flow.Protocol != FlowProtocol.Any)
        {
            expressions.Add(new NftMeta(NftMetaKey.L4Proto));
            expressions.Add(NftCmp.Equal(NftValue.U8(flow.Protocol == FlowProtocol.Tcp ? (byte)ProtocolType.Tcp : (byte)ProtocolType.Udp)));
            if (flow.Port is { } port)
            {
                expressions.Add(new NftPayload(NftPayloadBase.Transport, outgoing ? 2u : 0u, 2));
                expressions.Add(NftCmp.Equal(NftValue.Be16(port)));
            }
        }

        expressions.AddRange(SetPriority(classId.Value));
        expressions.Add(new NftImmediate(NftVerdict.Return));
        return expressions;
    }

    private static byte[] Mask(int prefixLength, int bytes)
    {
        var mask = new byte[bytes];
        for (var i = 0; i < bytes; i++)
        {
            var bits = Math.Clamp(prefixLength - (i * 8), 0, 8);
            mask[i] = (byte)(0xff << (8 - bits));
        }

        return mask;
    }
}

/// <summary>What the nftables table holds for one sandbox: its id, veth, slot, and whether ingress is classified.</summary>
internal sealed record SandboxRuleState(string SandboxId, string Veth, int Slot, bool HasDown);
