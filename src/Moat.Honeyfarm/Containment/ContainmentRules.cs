using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Moat.Honeyfarm.Containment;

/// <summary>
/// The gateway's nftables table: the export policy as a forward-chain filter on everything the clones send. It is
/// the safety net under the routing (each universe's table already keeps clones inside their universe): whatever
/// the routes say, a new flow from a clone leaves only as the policy allows. The input chain keeps clones off the
/// gateway itself, but for the scrubbed resolver when it is on (port 53, a rate per clone); nothing from outside
/// reaches that resolver. Applied with <c>nft -f -</c> inside the gateway's namespace, as one transaction.
/// </summary>
internal sealed class ContainmentRules(string namespaceName, string outsideInterface, ExportPolicy policy, int? dnsPerSecond = null)
{
    public const string Table = "moat_honeyfarm";
    public const string ClonePrefix = "hc";
    public const string UniverseTunPrefix = "hfu";

    /// <summary>The whole table, replacing any earlier one in one transaction.</summary>
    public string Ruleset()
    {
        var s = new StringBuilder();
        s.Append(CultureInfo.InvariantCulture, $"table inet {Table}\ndelete table inet {Table}\n");
        s.Append(CultureInfo.InvariantCulture, $"table inet {Table} {{\n");
        s.Append("  set peers { type ifname . ipv4_addr; }\n");
        s.Append("  set dnsrate { type ifname; flags dynamic; timeout 1m; }\n");
        s.Append("  set outbound { type ifname; flags dynamic; }\n");
        s.Append("  set proven { type ifname; flags dynamic, timeout; timeout 10m; size 65536; }\n");
        // Clones never reach the gateway itself.
        s.Append("  chain input {\n    type filter hook input priority 0; policy accept;\n");
        s.Append(CultureInfo.InvariantCulture, $"    iifname \"{ClonePrefix}*\" ct state established,related accept\n");
        s.Append(CultureInfo.InvariantCulture, $"    iifname \"{ClonePrefix}*\" counter name blocked drop\n");
        s.Append("  }\n");
        s.Append("  chain forward {\n    type filter hook forward priority 0; policy accept;\n");
        // A clone someone completed a TCP handshake with (conntrack: assured) is serving a real peer, one that receives at
        // its address; a spoofed SYN never gets this far. The gateway recycles unproven clones first when full.
        s.Append(CultureInfo.InvariantCulture, $"    oifname \"{ClonePrefix}*\" meta l4proto tcp ct status assured update @proven {{ oifname }}\n");
        if (dnsPerSecond is { } rate)
        {
            // The scrubbed resolver, whatever the policy: at most RATE queries a second per clone, into its universe's
            // device. Before the established rule, which would let a socket's later queries pass uncounted.
            var dns = string.Create(CultureInfo.InvariantCulture, $"iifname \"{ClonePrefix}*\" oifname \"{UniverseTunPrefix}*\" ip daddr {Dns.DnsSinkholeAnswer.ResolverAddress} udp dport 53");
            s.Append(CultureInfo.InvariantCulture, $"    {dns} update @dnsrate {{ iifname limit rate over {rate}/second burst {2 * rate} packets }} counter name dnslimited drop\n");
            s.Append(CultureInfo.InvariantCulture, $"    {dns} accept\n");
        }

        s.Append(CultureInfo.InvariantCulture, $"    iifname \"{ClonePrefix}*\" ct state established,related accept\n");
        // Every clone that starts a flow of its own (whatever the policy does with it) is remembered: its state changed.
        s.Append(CultureInfo.InvariantCulture, $"    iifname \"{ClonePrefix}*\" ct state new add @outbound {{ iifname }}\n");
        switch (policy)
        {
            case ExportPolicy.ReplyOnly:
                s.Append(CultureInfo.InvariantCulture, $"    iifname . ip daddr @peers oifname \"{outsideInterface}\" accept\n");
                break;
            case ExportPolicy.Reflect:
                s.Append(CultureInfo.InvariantCulture, $"    iifname \"{ClonePrefix}*\" oifname \"{UniverseTunPrefix}*\" accept\n");
                s.Append(CultureInfo.InvariantCulture, $"    iifname \"{ClonePrefix}*\" oifname \"{ClonePrefix}*\" accept\n");
                break;
        }

        s.Append(CultureInfo.InvariantCulture, $"    iifname \"{ClonePrefix}*\" counter name blocked drop\n");
        s.Append("  }\n  counter blocked { }\n  counter dnslimited { }\n}\n");
        return s.ToString();
    }

    public Task ApplyAsync(CancellationToken cancellationToken = default) => RunAsync(Ruleset(), cancellationToken);

    public Task AllowPeerAsync(string cloneInterface, string peer, CancellationToken cancellationToken = default) =>
        RunAsync($"add element inet {Table} peers {{ \"{cloneInterface}\" . {peer} }}\n", cancellationToken);

    /// <summary>Whether the clone on link <paramref name="cloneInterface"/> has started a flow of its own (set <c>outbound</c>).</summary>
    public async Task<bool> AttemptedOutboundAsync(string cloneInterface, CancellationToken cancellationToken = default)
    {
        try
        {
            await RunAsync(null, cancellationToken, "get", "element", "inet", Table, "outbound", $"{{ \"{cloneInterface}\" }}").ConfigureAwait(false);
            return true;
        }
        catch (HoneyfarmException e) when (e.Message.Contains("No such file or directory", StringComparison.Ordinal))
        {
            return false;
        }
    }

    /// <summary>The clone links someone completed a TCP handshake with in the last ten minutes (set <c>proven</c>, read with <c>nft -j</c>).</summary>
    public async Task<HashSet<string>> ProvenLinksAsync(CancellationToken cancellationToken = default)
    {
        var json = await RunAsync(null, cancellationToken, "-j", "list", "set", "inet", Table, "proven").ConfigureAwait(false);
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        var links = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in doc.RootElement.GetProperty("nftables").EnumerateArray())
        {
            if (item.TryGetProperty("set", out var set) && set.TryGetProperty("elem", out var elements))
            {
                foreach (var e in elements.EnumerateArray())
                {
                    // A plain name, or {"elem": {"val": name, "timeout": ...}} for an element with a timeout.
                    var value = e.ValueKind == System.Text.Json.JsonValueKind.String ? e : e.GetProperty("elem").GetProperty("val");
                    links.Add(value.GetString()!);
                }
            }
        }

        return links;
    }

    public Task RemoveAsync(CancellationToken cancellationToken = default) => RunAsync($"destroy table inet {Table}\n", cancellationToken);

    /// <summary>Packets from clones the policy dropped (the table's counter, read with <c>nft -j</c>).</summary>
    public async Task<long> BlockedPacketsAsync(CancellationToken cancellationToken = default)
    {
        var json = await RunAsync(null, cancellationToken, "-j", "list", "counter", "inet", Table, "blocked").ConfigureAwait(false);
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        foreach (var item in doc.RootElement.GetProperty("nftables").EnumerateArray())
        {
            if (item.TryGetProperty("counter", out var counter))
            {
                return counter.GetProperty("packets").GetInt64();
            }
        }

        throw new HoneyfarmException($"nft listed no counter 'blocked' in table {Table} of namespace {namespaceName}.");
    }

    private async Task<string> RunAsync(string? input, CancellationToken cancellationToken, params string[] nftArguments)
    {
        var start = new ProcessStartInfo("ip")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in new[] { "netns", "exec", namespaceName, "nft" }.Concat(nftArguments.Length == 0 ? ["-f", "-"] : nftArguments))
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start) ?? throw new HoneyfarmException("Could not start 'ip netns exec ... nft'.");
        if (input is not null)
        {
            await process.StandardInput.WriteAsync(input).ConfigureAwait(false);
        }

        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new HoneyfarmException($"nft in namespace {namespaceName} refused the honeyfarm's rules: {(await error.ConfigureAwait(false)).Trim()}");
        }

        return await output.ConfigureAwait(false);
    }
}
