using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Moat.Linux.Namespaces;

namespace Moat.Mtd.Relocation.Network;

/// <summary>
/// VIP front over nftables in a "front" network namespace (or this machine's own): one table of its own, a map VIP →
/// current sandbox address used by a dnat rule on prerouting (and output, for clients inside the front), and, when
/// the hosts are behind an interface of their own, a masquerade toward them so replies come back through the front. A switch is one `nft -f -` transaction replacing one map element, so
/// every new connection sees either the old or the new address, never none.
/// </summary>
/// <remarks>Connections already open keep the mapping conntrack gave them; <see cref="WithdrawAsync"/> removes those
/// that still lead to the withdrawn address.</remarks>
public sealed class VipFront : IServiceAddressing, IAsyncDisposable
{
    private const string Map = "vip4";
    private readonly Dictionary<IPAddress, IPAddress> _bindings = [];
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly NetworkNamespace _ns;

    private VipFront(string? netns, string table, NetworkNamespace ns)
    {
        Netns = netns;
        Table = table;
        _ns = ns;
    }

    /// <summary>The front namespace; null: the namespace this process runs in (the machine's own, normally).</summary>
    public string? Netns { get; }

    /// <summary>The nftables table (family ip) this front owns.</summary>
    public string Table { get; }

    /// <summary>
    /// Takes over table <paramref name="table"/> in <paramref name="netns"/>: keeps the bindings it already holds (so
    /// successive CLI runs share one front) and (re)writes its chains in the same transaction.
    /// </summary>
    /// <param name="netns">The front's network namespace; null: this process's own.</param>
    /// <param name="masqueradeInterface">Interface toward the hosts; traffic leaving through it is masqueraded. Null: no
    /// masquerade (the hosts' sandboxes route back through this front by themselves, as on one machine).</param>
    public static async Task<VipFront> OpenAsync(string? netns, string table, string? masqueradeInterface, CancellationToken cancellationToken = default)
    {
        if (!IsName(table) || (masqueradeInterface is not null && !IsName(masqueradeInterface)))
        {
            throw new ArgumentException($"table '{table}' and interface '{masqueradeInterface}' must be 1-31 characters from a-z, A-Z, 0-9, '_' and '-'.");
        }

        var front = new VipFront(netns, table, netns is null ? NetworkNamespace.OpenCurrent() : NetworkNamespace.Open(netns));
        try
        {
            foreach (var (vip, target) in await front.ReadBindingsAsync(cancellationToken).ConfigureAwait(false))
            {
                front._bindings[vip] = target;
            }

            var elements = front._bindings.Count == 0 ? "" : $"elements = {{ {string.Join(", ", front._bindings.Select(b => $"{b.Key} : {b.Value}"))} }}";
            var masquerade = masqueradeInterface is null ? ""
                : $"chain postrouting {{ type nat hook postrouting priority srcnat; policy accept; oifname \"{masqueradeInterface}\" masquerade; }}";
            await front.NftAsync(
                $$"""
                add table ip {{table}}
                delete table ip {{table}}
                table ip {{table}} {
                  map {{Map}} { type ipv4_addr : ipv4_addr; {{elements}}; }
                  chain prerouting { type nat hook prerouting priority dstnat; policy accept; dnat to ip daddr map @{{Map}}; }
                  chain output { type nat hook output priority -100; policy accept; dnat to ip daddr map @{{Map}}; }
                  {{masquerade}}
                }
                """,
                cancellationToken).ConfigureAwait(false);
            return front;
        }
        catch
        {
            await front.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public IPAddress? Current(IPAddress vip)
    {
        lock (_bindings)
        {
            return _bindings.GetValueOrDefault(vip);
        }
    }

    public async Task<IPAddress?> SwitchAsync(IPAddress vip, IPAddress target, CancellationToken cancellationToken = default)
    {
        RequireV4(vip);
        RequireV4(target);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var old = Current(vip);
            var script = new StringBuilder();
            if (old is not null)
            {
                script.Append(CultureInfo.InvariantCulture, $"delete element ip {Table} {Map} {{ {vip} }}\n");
            }

            script.Append(CultureInfo.InvariantCulture, $"add element ip {Table} {Map} {{ {vip} : {target} }}\n");
            await NftAsync(script.ToString(), cancellationToken).ConfigureAwait(false);
            lock (_bindings)
            {
                _bindings[vip] = target;
            }

            return old;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Removes the VIP's binding altogether (the service is gone).</summary>
    public async Task UnbindAsync(IPAddress vip, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Current(vip) is null)
            {
                return;
            }

            await NftAsync($"delete element ip {Table} {Map} {{ {vip} }}\n", cancellationToken).ConfigureAwait(false);
            lock (_bindings)
            {
                _bindings.Remove(vip);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task WithdrawAsync(IPAddress vip, IPAddress old, CancellationToken cancellationToken = default)
    {
        RequireV4(old);
        // conntrack -D exits 1 when nothing matched; only its count line says whether that was the reason.
        var (code, _, err) = await RunAsync("conntrack", ["-D", "-f", "ipv4", "--orig-dst", vip.ToString(), "--reply-src", old.ToString()], null, cancellationToken).ConfigureAwait(false);
        if (code != 0 && !err.Contains("0 flow entries", StringComparison.Ordinal))
        {
            throw new ServiceAddressException($"clearing the front's connections from VIP {vip} to {old} failed (conntrack exit {code}): {err.Trim()}");
        }
    }

    public async Task<bool> ProbeAsync(IPAddress target, int port, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        using var socket = await NamespaceRunner.RunAsync(_ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp), cancellationToken).ConfigureAwait(false);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await socket.ConnectAsync(new IPEndPoint(target, port), cts.Token).ConfigureAwait(false);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    public async Task<Socket?> OpenAsync(IPAddress target, int port, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var socket = await NamespaceRunner.RunAsync(_ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp), cancellationToken).ConfigureAwait(false);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await socket.ConnectAsync(new IPEndPoint(target, port), cts.Token).ConfigureAwait(false);
            return socket;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            throw new SocketException((int)SocketError.TimedOut);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Removes this front's table.</summary>
    public async Task DeleteAsync(CancellationToken cancellationToken = default)
    {
        await NftAsync($"add table ip {Table}\ndelete table ip {Table}\n", cancellationToken).ConfigureAwait(false);
        lock (_bindings)
        {
            _bindings.Clear();
        }
    }

    public ValueTask DisposeAsync()
    {
        _ns.Dispose();
        _gate.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task<List<(IPAddress Vip, IPAddress Target)>> ReadBindingsAsync(CancellationToken cancellationToken)
    {
        var (code, output, _) = await RunAsync("nft", ["-j", "list", "map", "ip", Table, Map], null, cancellationToken).ConfigureAwait(false);
        var list = new List<(IPAddress, IPAddress)>();
        if (code != 0)
        {
            return list; // no such table or map yet
        }

        using var doc = JsonDocument.Parse(output);
        foreach (var item in doc.RootElement.GetProperty("nftables").EnumerateArray())
        {
            if (item.TryGetProperty("map", out var map) && map.TryGetProperty("elem", out var elems))
            {
                foreach (var e in elems.EnumerateArray())
                {
                    list.Add((IPAddress.Parse(e[0].GetString()!), IPAddress.Parse(e[1].GetString()!)));
                }
            }
        }

        return list;
    }

    private async Task NftAsync(string script, CancellationToken cancellationToken)
    {
        var (code, _, err) = await RunAsync("nft", ["-f", "-"], script, cancellationToken).ConfigureAwait(false);
        if (code != 0)
        {
            throw new ServiceAddressException($"the VIP front (table {Table} in {Netns ?? "this namespace"}) refused the change, which was not applied: {err.Trim()}");
        }
    }

    private async Task<(int Code, string Out, string Err)> RunAsync(string tool, IReadOnlyList<string> args, string? input, CancellationToken cancellationToken)
    {
        var psi = new ProcessStartInfo(Netns is null ? tool : "ip") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in Netns is null ? args : ["netns", "exec", Netns, tool, .. args])
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi) ?? throw new ServiceAddressException($"could not start {tool} in {Netns ?? "this namespace"}.");
        var o = p.StandardOutput.ReadToEndAsync(cancellationToken);
        var e = p.StandardError.ReadToEndAsync(cancellationToken);
        if (input is not null)
        {
            await p.StandardInput.WriteAsync(input).ConfigureAwait(false);
        }

        p.StandardInput.Close();
        await p.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        return (p.ExitCode, await o.ConfigureAwait(false), await e.ConfigureAwait(false));
    }

    private static void RequireV4(IPAddress a)
    {
        if (a.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new ArgumentException($"address {a} is not IPv4; the VIP front maps IPv4 addresses only.");
        }
    }

    private static bool IsName(string s) => s.Length is > 0 and < 32 && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-');
}
