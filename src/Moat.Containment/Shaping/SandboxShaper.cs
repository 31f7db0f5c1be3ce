using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Moat.Linux;
using Moat.Linux.Netlink;
using Moat.Linux.Nftables;
using Moat.Linux.Traffic;

namespace Moat.Containment.Shaping;

/// <summary>A sandbox the host agent has running, with the rates it should have.</summary>
public sealed record ShapedSandbox(string SandboxId, string HostVeth, SandboxRates Rates);

/// <summary>What <see cref="SandboxShaper.ReconcileAsync"/> did.</summary>
public sealed record ShapingReconcileResult(
    IReadOnlyList<string> Removed,
    IReadOnlyList<string> Applied,
    IReadOnlyList<(string SandboxId, string Reason)> Failed,
    int OrphanClassesDeleted);

/// <summary>
/// Puts per-sandbox rate limits in the kernel: HTB classes on each uplink's egress (aggregate cap, flow classes,
/// fair share with the host) and on the sandbox's host veth (toward the sandbox), chosen per packet by nftables
/// `meta priority set`. Classes are sent over rtnetlink from inside the process; each sandbox owns its own class
/// ids, chains and map elements, so one sandbox's change never rewrites another's. A change that fails is undone.
/// </summary>
public sealed partial class SandboxShaper : IDisposable
{
    private readonly ShapingOptions _options;
    private readonly ILogger _logger;
    private readonly RtNetlink _rtnl;
    private readonly NftSocket _nfnl;
    private readonly NftCli _nft;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, Shaped> _sandboxes = new(StringComparer.Ordinal);
    private readonly HashSet<int> _usedSlots = [];
    private int[] _uplinkIndexes = [];

    private SandboxShaper(ShapingOptions options, ILogger logger, RtNetlink rtnl, NftSocket nfnl)
    {
        _options = options;
        _logger = logger;
        _rtnl = rtnl;
        _nfnl = nfnl;
        _nft = new NftCli(options.Namespace);
    }

    /// <summary>The sandboxes shaped now, as this shaper knows them (loaded from the kernel at start).</summary>
    public IReadOnlyCollection<string> SandboxIds => _sandboxes.Keys;

    /// <summary>
    /// Puts the uplink trees and the nftables table in place (keeping what a previous agent left) and loads the
    /// sandboxes already shaped, so their class ids are not handed out again.
    /// </summary>
    /// <exception cref="ShapingInputException">The options are not valid (e.g. an uplink that does not exist).</exception>
    public static async Task<SandboxShaper> StartAsync(ShapingOptions options, ILogger<SandboxShaper>? logger = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        var rtnl = options.Namespace is null ? RtNetlink.Open() : RtNetlink.OpenIn(options.Namespace);
        NftSocket nfnl;
        try
        {
            nfnl = options.Namespace is null ? NftSocket.Open() : NftSocket.OpenIn(options.Namespace);
        }
        catch
        {
            rtnl.Dispose();
            throw;
        }

        var shaper = new SandboxShaper(options, (ILogger?)logger ?? NullLogger.Instance, rtnl, nfnl);
        try
        {
            await shaper._gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                shaper.EnsureBase();
                await shaper.LoadAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                shaper._gate.Release();
            }

            ShapingLog.Ready(shaper._logger, string.Join(", ", options.Uplinks.Select(u => $"{u.Device} ({u.Bandwidth})")), shaper._sandboxes.Count);
            return shaper;
        }
        catch
        {
            shaper.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Shapes sandbox <paramref name="sandboxId"/> whose host end is <paramref name="hostVeth"/>, or changes its
    /// rates. Only its own classes, chains and map elements are touched; a change of rates alone is a few rtnetlink
    /// messages. Bad rates are refused before anything changes; a kernel refusal undoes what was done.
    /// </summary>
    /// <exception cref="ShapingInputException">The id, veth or rates are not valid; nothing changed.</exception>
    /// <exception cref="ShapingException">The kernel refused the change; the previous shaping stays in force.</exception>
    public async Task ApplyAsync(string sandboxId, string hostVeth, SandboxRates rates, CancellationToken cancellationToken = default)
    {
        ValidateSandbox(sandboxId, hostVeth, rates);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var rules = new NftTransaction();
            var pending = Prepare(sandboxId, hostVeth, rates, forceRules: false, rules);
            try
            {
                CommitRules(rules);
            }
            catch (ShapingException e)
            {
                Undo(pending, e.Message);
                throw;
            }

            Commit(pending);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Takes sandbox <paramref name="sandboxId"/>'s shaping away; false when it had none.</summary>
    /// <exception cref="ShapingException">nft refused to delete its rules; its shaping stays in force.</exception>
    public async Task<bool> RemoveAsync(string sandboxId, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sandboxId);
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return RemoveLocked(sandboxId);
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose()
    {
        _rtnl.Dispose();
        _nfnl.Dispose();
        _gate.Dispose();
    }

    private static void Validate(ShapingOptions options)
    {
        if (options.Uplinks is null || options.Uplinks.Count == 0)
        {
            throw new ShapingInputException("Shaping needs at least one uplink: name the device(s) sandbox traffic leaves the host by, with their bandwidth.");
        }

        if (!(options.HostShare is > 0 and < 1))
        {
            throw new ShapingInputException($"The host's share of the uplink, {options.HostShare}, is not valid: use a fraction above 0 and below 1 (e.g. 0.5).");
        }

        if (!TablePattern().IsMatch(options.TableName ?? ""))
        {
            throw new ShapingInputException($"Table name '{options.TableName}' is not valid: use 1 to 32 letters, digits, '-' or '_'.");
        }

        foreach (var uplink in options.Uplinks)
        {
            CheckInterfaceName(uplink.Device, "uplink");
            if (uplink.Bandwidth < BitRate.Minimum)
            {
                throw new ShapingInputException($"Uplink {uplink.Device} has bandwidth {uplink.Bandwidth.BitsPerSecond} bit/s: use {BitRate.Minimum} to {BitRate.Maximum}.");
            }
        }
    }

    private static void ValidateSandbox(string sandboxId, string hostVeth, SandboxRates rates)
    {
        ArgumentNullException.ThrowIfNull(rates);
        if (sandboxId is null || !SandboxIdPattern().IsMatch(sandboxId))
        {
            throw new ShapingInputException($"Sandbox id '{sandboxId}' is not valid for shaping: use 1 to 48 letters, digits, '-' or '_'.");
        }

        CheckInterfaceName(hostVeth, $"host veth of sandbox {sandboxId}");
        rates.Validate(sandboxId);
    }

    private static void CheckInterfaceName(string? name, string what)
    {
        if (name is null || !InterfacePattern().IsMatch(name))
        {
            throw new ShapingInputException($"The {what} '{name}' is not a valid interface name: use 1 to 15 letters, digits, '-', '_' or '.'.");
        }
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,48}$")]
    private static partial Regex SandboxIdPattern();

    [GeneratedRegex("^[A-Za-z0-9_-]{1,32}$")]
    private static partial Regex TablePattern();

    [GeneratedRegex("^[A-Za-z0-9_.-]{1,15}$")]
    private static partial Regex InterfacePattern();

    /// <summary>One sandbox as it is in the kernel: its classes (parents first) and whether its veth carries our qdisc.</summary>
    private sealed record Shaped(string SandboxId, string Veth, int Slot, int VethIndex, IReadOnlyList<Placed> Classes, bool VethQdisc, bool HasDown, SandboxRates? Rates)
    {
        public SandboxRuleState Rules => new(SandboxId, Veth, Slot, HasDown);
    }

    /// <summary>An HTB class on the link with index <see cref="Index"/>.</summary>
    private readonly record struct Placed(int Index, HtbClassSpec Spec)
    {
        public bool SamePlace(Placed other) => Index == other.Index && Spec.ClassId == other.Spec.ClassId;
    }

    /// <summary>A change whose classes are in the kernel and whose rules are written but not yet run.</summary>
    private sealed record Pending(string SandboxId, Shaped? Previous, Shaped Next, bool CreatedQdisc, bool NewSlot, bool RulesRewritten);
}
