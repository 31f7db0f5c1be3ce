using System.Buffers.Binary;
using System.Net;
using Moat.Linux.Netlink;

namespace Moat.Linux.Nftables;

public enum NftFamily : byte
{
    Inet = 1,
    Ipv4 = 2,
    Netdev = 5,
    Bridge = 7,
    Ipv6 = 10,
}

public enum NftHook : uint
{
    Prerouting = 0,
    Input = 1,
    Forward = 2,
    Output = 3,
    Postrouting = 4,
}

/// <summary>
/// A named set or map. <see cref="KeyType"/> is nft's data type number (it only decides how `nft list` prints);
/// <see cref="KeyLength"/> is what the kernel compares.
/// </summary>
public sealed record NftSetSpec(string Name, uint KeyType, uint KeyLength, bool Interval = false, bool VerdictMap = false, bool Timeout = false)
{
    /// <summary>Keys in host byte order (strings such as interface names); nft reads this from the set's user data.</summary>
    public bool KeyHostOrder { get; init; }

    /// <summary>Bound on elements (NFTA_SET_DESC_SIZE); the kernel refuses adds beyond it. Null: the kernel's default.</summary>
    public uint? MaxElements { get; init; }

    /// <summary>Updated from the packet path by <see cref="NftDynset"/> (nft's "dynamic" flag, NFT_SET_EVAL).</summary>
    public bool Dynamic { get; init; }

    /// <summary>A set of IPv4 addresses; with <paramref name="interval"/> it holds prefixes.</summary>
    public static NftSetSpec Ipv4Addresses(string name, bool interval = false, bool timeout = false) =>
        new(name, Nft.TYPE_IPADDR, 4, interval, Timeout: timeout);

    /// <summary>A set of (IPv4 address, port) pairs: `ipv4_addr . inet_service`.</summary>
    public static NftSetSpec Ipv4AddressAndPort(string name, bool timeout = false) =>
        new(name, (Nft.TYPE_IPADDR << Nft.TYPE_BITS) | Nft.TYPE_INET_SERVICE, 8, Timeout: timeout);

    /// <summary>A verdict map keyed by interface name: `ifname : verdict`.</summary>
    public static NftSetSpec InterfaceVerdictMap(string name) => new(name, Nft.TYPE_IFNAME, 16, VerdictMap: true) { KeyHostOrder = true };
}

/// <summary>One set element: its key, and for a verdict map its verdict; <see cref="Timeout"/> makes the kernel remove it.</summary>
public sealed record NftElement(byte[] Key, NftVerdict? Verdict = null, TimeSpan? Timeout = null, bool IntervalEnd = false)
{
    public static NftElement Address(IPAddress address, TimeSpan? timeout = null) => new(NftValue.Ipv4(address), Timeout: timeout);

    /// <summary>Key of an `ipv4_addr . inet_service` element: 4 address bytes, 2 port bytes, 2 bytes of padding.</summary>
    public static NftElement AddressAndPort(IPAddress address, ushort port, TimeSpan? timeout = null)
    {
        var key = new byte[8];
        NftValue.Ipv4(address).CopyTo(key, 0);
        BinaryPrimitives.WriteUInt16BigEndian(key.AsSpan(4), port);
        return new NftElement(key, Timeout: timeout);
    }

    public static NftElement InterfaceVerdict(string interfaceName, NftVerdict verdict) => new(NftValue.InterfaceName(interfaceName), verdict);

    /// <summary>The two elements an interval set stores for a prefix: its start, and the first address after it.</summary>
    public static IEnumerable<NftElement> Prefix(IPNetwork prefix)
    {
        var start = BinaryPrimitives.ReadUInt32BigEndian(NftValue.Ipv4(prefix.BaseAddress));
        var size = 1UL << (32 - prefix.PrefixLength);
        var key = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(key, start);
        yield return new NftElement(key);
        var end = start + size;
        if (end <= uint.MaxValue)
        {
            var endKey = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(endKey, (uint)end);
            yield return new NftElement(endKey, IntervalEnd: true);
        }
    }
}

/// <summary>
/// Changes to nf_tables sent as one batch (NFNL_MSG_BATCH_BEGIN ... BATCH_END): the kernel applies all of them or,
/// if any fails, none. Commit with <see cref="NftSocket.Commit"/>.
/// </summary>
public sealed class NftTransaction
{
    private readonly NetlinkWriter _writer = new(4096);
    private readonly List<(int Offset, string Description)> _messages = [];

    public int Count => _messages.Count;

    internal NetlinkWriter Writer => _writer;

    internal IReadOnlyList<(int Offset, string Description)> Messages => _messages;

    public NftTransaction AddTable(NftFamily family, string table)
    {
        var e = Begin(Nft.NEWTABLE, family, Nft.NLM_F_CREATE, $"add table {Name(family)} {table}");
        e.String(Nft.NFTA_TABLE_NAME, table);
        return End();
    }

    /// <summary>Deletes a table and everything in it; no error if it does not exist.</summary>
    public NftTransaction DestroyTable(NftFamily family, string table)
    {
        var e = Begin(Nft.DESTROYTABLE, family, 0, $"destroy table {Name(family)} {table}");
        e.String(Nft.NFTA_TABLE_NAME, table);
        return End();
    }

    public NftTransaction AddChain(NftFamily family, string table, string chain)
    {
        var e = Begin(Nft.NEWCHAIN, family, Nft.NLM_F_CREATE, $"add chain {Name(family)} {table} {chain}");
        e.String(Nft.NFTA_CHAIN_TABLE, table);
        e.String(Nft.NFTA_CHAIN_NAME, chain);
        return End();
    }

    /// <summary>A chain attached to a netfilter hook, of type filter.</summary>
    public NftTransaction AddBaseChain(NftFamily family, string table, string chain, NftHook hook, int priority, NftVerdict policy)
    {
        if (policy.Kind is not (NftVerdictKind.Accept or NftVerdictKind.Drop))
        {
            throw new ArgumentException($"A base chain's policy is accept or drop, not {policy}.", nameof(policy));
        }

        var e = Begin(Nft.NEWCHAIN, family, Nft.NLM_F_CREATE, $"add base chain {Name(family)} {table} {chain} (hook {hook.ToString().ToLowerInvariant()} priority {priority})");
        e.String(Nft.NFTA_CHAIN_TABLE, table);
        e.String(Nft.NFTA_CHAIN_NAME, chain);
        var h = e.Begin(Nft.NFTA_CHAIN_HOOK);
        e.Be32(Nft.NFTA_HOOK_HOOKNUM, (uint)hook);
        e.Be32(Nft.NFTA_HOOK_PRIORITY, unchecked((uint)priority));
        e.End(h);
        e.Be32(Nft.NFTA_CHAIN_POLICY, (uint)policy.Code);
        e.String(Nft.NFTA_CHAIN_TYPE, "filter");
        return End();
    }

    /// <summary>Deletes a chain and its rules; no error if it does not exist. Nothing may still jump to it.</summary>
    public NftTransaction DestroyChain(NftFamily family, string table, string chain)
    {
        var e = Begin(Nft.DESTROYCHAIN, family, 0, $"destroy chain {Name(family)} {table} {chain}");
        e.String(Nft.NFTA_CHAIN_TABLE, table);
        e.String(Nft.NFTA_CHAIN_NAME, chain);
        return End();
    }

    /// <summary>Deletes every rule of a chain (the chain stays).</summary>
    public NftTransaction FlushChain(NftFamily family, string table, string chain)
    {
        var e = Begin(Nft.DELRULE, family, 0, $"flush chain {Name(family)} {table} {chain}");
        e.String(Nft.NFTA_RULE_TABLE, table);
        e.String(Nft.NFTA_RULE_CHAIN, chain);
        return End();
    }

    /// <summary>Deletes a chain, which must be empty and unreferenced by then in the transaction.</summary>
    public NftTransaction DeleteChain(NftFamily family, string table, string chain)
    {
        var e = Begin(Nft.DELCHAIN, family, 0, $"delete chain {Name(family)} {table} {chain}");
        e.String(Nft.NFTA_CHAIN_TABLE, table);
        e.String(Nft.NFTA_CHAIN_NAME, chain);
        return End();
    }

    /// <summary>Appends a rule; <paramref name="label"/> only names it in error messages.</summary>
    public NftTransaction AddRule(NftFamily family, string table, string chain, IReadOnlyList<NftExpression> expressions, string? label = null)
    {
        ArgumentNullException.ThrowIfNull(expressions);
        var e = Begin(Nft.NEWRULE, family, (ushort)(Nft.NLM_F_CREATE | Nft.NLM_F_APPEND), $"add rule {Name(family)} {table} {chain}{(label is null ? "" : " (" + label + ")")}");
        e.String(Nft.NFTA_RULE_TABLE, table);
        e.String(Nft.NFTA_RULE_CHAIN, chain);
        var list = e.Begin(Nft.NFTA_RULE_EXPRESSIONS);
        foreach (var expression in expressions)
        {
            var element = e.Begin(Nft.NFTA_LIST_ELEM);
            e.String(Nft.NFTA_EXPR_NAME, expression.Name);
            var data = e.Begin(Nft.NFTA_EXPR_DATA);
            expression.EncodeData(e);
            e.End(data);
            e.End(element);
        }

        e.End(list);
        return End();
    }

    public NftTransaction AddSet(NftFamily family, string table, NftSetSpec set)
    {
        ArgumentNullException.ThrowIfNull(set);
        var e = Begin(Nft.NEWSET, family, Nft.NLM_F_CREATE, $"add {(set.VerdictMap ? "map" : "set")} {Name(family)} {table} {set.Name}");
        e.String(Nft.NFTA_SET_TABLE, table);
        e.String(Nft.NFTA_SET_NAME, set.Name);
        var flags = (set.Interval ? Nft.NFT_SET_INTERVAL : 0) | (set.VerdictMap ? Nft.NFT_SET_MAP : 0) | (set.Timeout ? Nft.NFT_SET_TIMEOUT : 0)
            | (set.Dynamic ? Nft.NFT_SET_EVAL : 0);
        e.Be32(Nft.NFTA_SET_FLAGS, flags);
        e.Be32(Nft.NFTA_SET_KEY_TYPE, set.KeyType);
        e.Be32(Nft.NFTA_SET_KEY_LEN, set.KeyLength);
        if (set.VerdictMap)
        {
            e.Be32(Nft.NFTA_SET_DATA_TYPE, Nft.NFT_DATA_VERDICT);
        }

        if (set.MaxElements is { } size)
        {
            var desc = e.Begin(Nft.NFTA_SET_DESC);
            e.Be32(Nft.NFTA_SET_DESC_SIZE, size);
            e.End(desc);
        }

        e.Be32(Nft.NFTA_SET_ID, (uint)_messages.Count);
        if (set.KeyHostOrder)
        {
            // libnftnl user data TLV: NFTNL_UDATA_SET_KEYBYTEORDER (0), 4 bytes, BYTEORDER_HOST_ENDIAN (1).
            e.Bytes(Nft.NFTA_SET_USERDATA, [0, 4, 1, 0, 0, 0]);
        }
        return End();
    }

    /// <summary>Deletes a set or map; no error if it does not exist.</summary>
    public NftTransaction DestroySet(NftFamily family, string table, string set)
    {
        var e = Begin(Nft.DESTROYSET, family, 0, $"destroy set {Name(family)} {table} {set}");
        e.String(Nft.NFTA_SET_TABLE, table);
        e.String(Nft.NFTA_SET_NAME, set);
        return End();
    }

    /// <summary>Adds elements; an element already present with the same value is not an error.</summary>
    public NftTransaction AddElements(NftFamily family, string table, string set, IEnumerable<NftElement> elements) =>
        Elements(Nft.NEWSETELEM, Nft.NLM_F_CREATE, family, table, set, elements, "add elements to");

    /// <summary>Removes elements; each must be present or the transaction fails.</summary>
    public NftTransaction DeleteElements(NftFamily family, string table, string set, IEnumerable<NftElement> elements) =>
        Elements(Nft.DELSETELEM, 0, family, table, set, elements, "delete elements from");

    /// <summary>Removes elements that are present and ignores the others.</summary>
    public NftTransaction DestroyElements(NftFamily family, string table, string set, IEnumerable<NftElement> elements) =>
        Elements(Nft.DESTROYSETELEM, 0, family, table, set, elements, "destroy elements of");

    /// <summary>Removes every element of a set.</summary>
    public NftTransaction FlushSet(NftFamily family, string table, string set)
    {
        var e = Begin(Nft.DELSETELEM, family, 0, $"flush set {Name(family)} {table} {set}");
        e.String(Nft.NFTA_SET_ELEM_LIST_TABLE, table);
        e.String(Nft.NFTA_SET_ELEM_LIST_SET, set);
        return End();
    }

    private NftTransaction Elements(ushort type, ushort flags, NftFamily family, string table, string set, IEnumerable<NftElement> elements, string verb)
    {
        ArgumentNullException.ThrowIfNull(elements);
        var list = elements as IReadOnlyCollection<NftElement> ?? elements.ToList();
        if (list.Count == 0)
        {
            return this;
        }

        var e = Begin(type, family, flags, $"{verb} set {Name(family)} {table} {set} ({list.Count} element{(list.Count == 1 ? "" : "s")})");
        e.String(Nft.NFTA_SET_ELEM_LIST_TABLE, table);
        e.String(Nft.NFTA_SET_ELEM_LIST_SET, set);
        var nest = e.Begin(Nft.NFTA_SET_ELEM_LIST_ELEMENTS);
        foreach (var element in list)
        {
            var item = e.Begin(Nft.NFTA_LIST_ELEM);
            e.Data(Nft.NFTA_SET_ELEM_KEY, element.Key);
            if (element.Verdict is { } verdict)
            {
                e.Verdict(Nft.NFTA_SET_ELEM_DATA, verdict);
            }

            if (element.IntervalEnd)
            {
                e.Be32(Nft.NFTA_SET_ELEM_FLAGS, Nft.NFT_SET_ELEM_INTERVAL_END);
            }

            if (element.Timeout is { } timeout && type == Nft.NEWSETELEM)
            {
                e.Be64(Nft.NFTA_SET_ELEM_TIMEOUT, (ulong)Math.Max(1, (long)timeout.TotalMilliseconds));
            }

            e.End(item);
        }

        e.End(nest);
        return End();
    }

    private NftEncoder Begin(ushort message, NftFamily family, ushort flags, string description)
    {
        var offset = _writer.BeginMessage((ushort)((Nft.NFNL_SUBSYS_NFTABLES << 8) | message), (ushort)(Nft.NLM_F_REQUEST | flags), 0);
        WriteNfGenMsg(_writer, (byte)family, 0);
        _messages.Add((offset, description));
        return new NftEncoder(_writer);
    }

    private NftTransaction End()
    {
        _writer.EndMessage(_messages[^1].Offset);
        return this;
    }

    /// <summary>struct nfgenmsg: family, version, res_id (big-endian).</summary>
    internal static void WriteNfGenMsg(NetlinkWriter writer, byte family, ushort resourceId)
    {
        // Same 4-byte layout as struct ndtmsg (family + 3 bytes); version is 0, res_id goes into the last two.
        writer.WriteNdtMsg(family);
        BinaryPrimitives.WriteUInt16BigEndian(writer.WrittenSpanMutable[^2..], resourceId);
    }

    internal static string Name(NftFamily family) => family switch
    {
        NftFamily.Inet => "inet",
        NftFamily.Ipv4 => "ip",
        NftFamily.Ipv6 => "ip6",
        NftFamily.Netdev => "netdev",
        NftFamily.Bridge => "bridge",
        _ => family.ToString(),
    };
}
