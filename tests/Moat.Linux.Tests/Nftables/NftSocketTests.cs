using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Moat.Linux.Namespaces;
using Moat.Linux.Nftables;
using Moat.Linux.Tests.Integration;

namespace Moat.Linux.Tests.Nftables;

/// <summary>The nf_tables encoder against the real kernel, inside a namespace of the test's own, read back with `nft -j`.</summary>
[Trait("Category", "Integration")]
public sealed class NftSocketTests
{
    private const NftFamily Inet = NftFamily.Inet;

    [Fact]
    public void Commit_TableChainsSetsMapAndRules_ReadBackByNftJson()
    {
        using var scope = new Scope();
        var t = new NftTransaction()
            .AddTable(Inet, "t")
            .AddBaseChain(Inet, "t", "fwd", NftHook.Forward, 0, NftVerdict.Accept)
            .AddChain(Inet, "t", "sb1")
            .AddSet(Inet, "t", NftSetSpec.InterfaceVerdictMap("ifaces"))
            .AddSet(Inet, "t", NftSetSpec.Ipv4Addresses("deny", interval: true))
            .AddSet(Inet, "t", NftSetSpec.Ipv4AddressAndPort("pairs", timeout: true))
            .AddElements(Inet, "t", "ifaces", [NftElement.InterfaceVerdict("mhab", NftVerdict.Goto("sb1"))])
            .AddElements(Inet, "t", "deny", NftElement.Prefix(IPNetwork.Parse("169.254.0.0/16")).Concat(NftElement.Prefix(IPNetwork.Parse("224.0.0.0/4"))))
            .AddElements(Inet, "t", "pairs", [NftElement.AddressAndPort(IPAddress.Parse("198.18.0.9"), 443, TimeSpan.FromMinutes(5))])
            .AddRule(Inet, "t", "fwd", [new NftMeta(NftMetaKey.InputInterfaceName), new NftLookup("ifaces", NftRegister.R0, NftRegister.Verdict)])
            .AddRule(Inet, "t", "sb1", [
                new NftMeta(NftMetaKey.NfProto), NftCmp.Equal([2]),
                NftPayload.Ipv4Source(), NftCmp.NotEqual(NftValue.Ipv4(IPAddress.Parse("198.18.1.2"))),
                new NftCounter(), new NftLog(7, "moat sb1 spoof"), new NftImmediate(NftVerdict.Drop)])
            .AddRule(Inet, "t", "sb1", [
                new NftMeta(NftMetaKey.NfProto), NftCmp.Equal([2]),
                NftPayload.Ipv4Destination(), new NftBitwise(NftValue.PrefixMask(24), new byte[4]),
                NftCmp.Equal(NftValue.Ipv4(IPAddress.Parse("198.18.5.0"))),
                new NftMeta(NftMetaKey.L4Proto), NftCmp.Equal([6]),
                NftPayload.DestinationPort(), NftCmp.Equal(NftValue.Be16(443)),
                new NftLimit(125000, 1, 0, NftLimitType.Bytes), new NftImmediate(NftVerdict.Accept)])
            .AddRule(Inet, "t", "sb1", [new NftMeta(NftMetaKey.NfProto), NftCmp.Equal([2]), NftPayload.Ipv4Destination(), new NftLookup("deny"), new NftReject()])
            .AddRule(Inet, "t", "sb1", [new NftCtStateLoad(), new NftBitwise(NftValue.HostU32(6), new byte[4]), NftCmp.NotEqual(new byte[4]), new NftImmediate(NftVerdict.Return)])
            .AddRule(Inet, "t", "sb1", [new NftImmediate(NftValue.HostU32(0x10001), NftRegister.R0), new NftMeta(NftMetaKey.Priority, NftRegister.R0, SetFrom: true)]);
        scope.Socket.Commit(t);

        var json = scope.ListJson("t");
        var rules = Items(json, "rule").ToList();
        Assert.Equal(6, rules.Count);
        var text = json.RootElement.GetRawText();
        Assert.Contains("\"vmap\"", Items(json, "rule").First().GetRawText(), StringComparison.Ordinal);
        Assert.Contains("moat sb1 spoof", text, StringComparison.Ordinal);
        Assert.Contains("\"198.18.5.0\"", text, StringComparison.Ordinal);
        Assert.Contains("\"@deny\"", text, StringComparison.Ordinal);
        Assert.Contains("\"limit\"", text, StringComparison.Ordinal);
        var deny = Items(json, "set").Single(s => s.GetProperty("name").GetString() == "deny");
        Assert.Contains("interval", deny.GetProperty("flags").EnumerateArray().Select(f => f.GetString()));
        var prefixes = deny.GetProperty("elem").EnumerateArray().Select(e => e.GetProperty("prefix").GetProperty("addr").GetString() + "/" + e.GetProperty("prefix").GetProperty("len").GetInt32()).ToList();
        Assert.Equal(["169.254.0.0/16", "224.0.0.0/4"], prefixes);
        var map = Items(json, "map").Single(s => s.GetProperty("name").GetString() == "ifaces");
        Assert.Contains("mhab", map.GetProperty("elem").GetRawText(), StringComparison.Ordinal);
        Assert.Contains("sb1", map.GetProperty("elem").GetRawText(), StringComparison.Ordinal);
        Assert.Equal(["fwd", "sb1"], scope.Socket.ListChains(Inet, "t").Order(StringComparer.Ordinal));
        Assert.Equal(["deny", "ifaces", "pairs"], scope.Socket.ListSets(Inet, "t").Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Commit_OneChangeRefused_NothingAppliedAndErrorNamesTheChange()
    {
        using var scope = new Scope();
        scope.Socket.Commit(new NftTransaction().AddTable(Inet, "t").AddChain(Inet, "t", "keep"));

        var bad = new NftTransaction()
            .AddChain(Inet, "t", "new1")
            .AddRule(Inet, "t", "keep", [new NftImmediate(NftVerdict.Accept)], "good rule")
            .AddRule(Inet, "t", "missing", [new NftImmediate(NftVerdict.Drop)], "rule into a missing chain");
        var error = Assert.Throws<NetlinkException>(() => scope.Socket.Commit(bad));

        Assert.Equal(Errno.ENOENT, error.Errno);
        Assert.Contains("change 3 of 3", error.Message, StringComparison.Ordinal);
        Assert.Contains("rule into a missing chain", error.Message, StringComparison.Ordinal);
        var json = scope.ListJson("t");
        Assert.Empty(Items(json, "rule"));
        Assert.Equal(["keep"], Items(json, "chain").Select(c => c.GetProperty("name").GetString()));
    }

    [Fact]
    public void Commit_DestroyElementsAndSetsThatAreMissing_IsNotAnError()
    {
        using var scope = new Scope();
        scope.Socket.Commit(new NftTransaction().AddTable(Inet, "t").AddSet(Inet, "t", NftSetSpec.Ipv4Addresses("a")));
        scope.Socket.Commit(new NftTransaction()
            .DestroyElements(Inet, "t", "a", [NftElement.Address(IPAddress.Parse("198.18.0.1"))])
            .DestroySet(Inet, "t", "nosuch")
            .DestroySet(Inet, "t", "a"));
        Assert.Empty(scope.Socket.ListSets(Inet, "t"));
        Assert.Empty(scope.Socket.ListChains(Inet, "absent"));
    }

    private static IEnumerable<JsonElement> Items(JsonDocument json, string kind) =>
        json.RootElement.GetProperty("nftables").EnumerateArray().Where(i => i.TryGetProperty(kind, out _)).Select(i => i.GetProperty(kind));

    private sealed class Scope : IDisposable
    {
        public Scope()
        {
            Name = TestNames.Unique("nft");
            Namespace = NetworkNamespace.Create(Name);
            Socket = NftSocket.OpenIn(Namespace);
        }

        public string Name { get; }

        public NetworkNamespace Namespace { get; }

        public NftSocket Socket { get; }

        public JsonDocument ListJson(string table)
        {
            using var nft = Process.Start(new ProcessStartInfo("ip", ["netns", "exec", Name, "nft", "-j", "list", "table", "inet", table]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            var output = nft.StandardOutput.ReadToEnd();
            var error = nft.StandardError.ReadToEnd();
            nft.WaitForExit();
            Assert.True(nft.ExitCode == 0, $"nft -j list table inet {table} failed: {error}");
            return JsonDocument.Parse(output);
        }

        public void Dispose()
        {
            Socket.Dispose();
            Namespace.Dispose();
            NetworkNamespace.Delete(Name);
        }
    }
}
