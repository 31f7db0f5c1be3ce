using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Moat.Host.Fabric;
using Moat.Mtd.Placement;
using Moat.Mtd.Policy;
using Moat.Mtd.Relocation;
using Moat.Mtd.Relocation.Lab;

namespace Moat.Mtd.Cli;

/// <summary>Where `moat mtd lab` gets its image: a folder holding a busybox image store, and the agents' catalog over it
/// (the CLI composes both from Moat.Images).</summary>
/// <param name="PrepareAsync">Makes (or finds) an image store with a "busybox" image in the folder given.</param>
/// <param name="Catalog">Turns a lab host's state folder into its agent's image catalog.</param>
public sealed record LabImageSource(Func<string, CancellationToken, Task> PrepareAsync, Func<string, Host.Sandboxes.IImageCatalog> Catalog);

/// <summary>`moat mtd lab`: RELOCATE end to end on this machine, in namespaces it makes and removes.</summary>
public static class LabCommand
{
    public static Command Create(LabImageSource images)
    {
        var hosts = new Option<int>("--hosts") { Description = "Namespaced hosts to start, each with its own host agent (2-8).", DefaultValueFactory = _ => 3 };
        var policy = new Option<string>("--policy")
        {
            Description = "When the service moves: periodic:DURATION or poisson:RATE[:THRESHOLD] (moves per hour), as for `moat mtd run`.",
            DefaultValueFactory = _ => "periodic:4s",
        };
        var duration = new Option<string>("--for") { Description = "How long to run (e.g. 20s, 2m).", DefaultValueFactory = _ => "20s" };
        var socket = new Option<bool>("--socket") { Description = "Drive the agents through their Unix sockets instead of over the XMPP fabric." };
        var seed = new Option<int?>("--seed") { Description = "Seed of the clock and the placement's tie-breaks." };
        var json = new Option<bool>("--json") { Description = "One JSON object per relocation, a line each, then one summary object." };
        var command = new Command("lab", """
            Run RELOCATE end to end on this machine and show it: starts a private XMPP server (Prosody, loopback) and
            --hosts namespaced hosts, each with its own host agent on that fabric; a web service (busybox httpd whose
            page lives in its volume) on the first host behind a stable service address (a VIP on a front namespace);
            and a client namespace asking that address back to back. The scheduler then moves the service on its
            --policy clock to the host with the largest heterogeneity Δ, over the fabric only (state as in-band
            bytestreams), while the VIP follows it. Prints each move, then what the client saw: requests served,
            lost, and the longest gaps (the downtime a user feels). Everything runs in 198.18.0.0/15 inside
            namespaces made for the run and removed after it; nothing leaves this machine. Needs root.
            Exit: 0 when every move succeeded and no request was lost or answered wrongly, 1 otherwise, 2 bad input.
            Example: moat mtd lab --hosts 3 --policy periodic:4s --for 20s
            """) { hosts, policy, duration, socket, seed, json };
        command.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var count = parse.GetValue(hosts);
            if (count is < 2 or > 8)
            {
                await error.WriteLineAsync($"--hosts {count} is not valid: give 2 to 8 (a service needs somewhere to move to).").ConfigureAwait(false);
                return 2;
            }

            if (RunCommand.ParsePolicy(parse.GetValue(policy)!) is not { } clock || clock is OnAlertRelocationPolicy)
            {
                await error.WriteLineAsync($"--policy '{parse.GetValue(policy)}' is not periodic:DURATION or poisson:RATE[:THRESHOLD].").ConfigureAwait(false);
                return 2;
            }

            if (RunCommand.ParseDuration(parse.GetValue(duration)!) is not { } runFor || runFor <= TimeSpan.Zero)
            {
                await error.WriteLineAsync($"--for '{parse.GetValue(duration)}' is not a duration such as 20s or 2m.").ConfigureAwait(false);
                return 2;
            }

            if (Environment.UserName != "root")
            {
                await error.WriteLineAsync("moat mtd lab makes network namespaces and runs host agents: run it as root.").ConfigureAwait(false);
                return 2;
            }

            var asJson = parse.GetValue(json);
            var viaFabric = !parse.GetValue(socket);
            var say = asJson ? TextWriter.Null : output;
            var imagesRoot = Path.Combine(Path.GetTempPath(), $"moat-mtd-lab-images-{Environment.ProcessId}");
            try
            {
                await say.WriteLineAsync($"lab: {count} namespaced hosts{(viaFabric ? " on a private XMPP fabric" : "")}, a web service behind a VIP, a client; moving on {parse.GetValue(policy)} for {parse.GetValue(duration)}").ConfigureAwait(false);
                await images.PrepareAsync(imagesRoot, ct).ConfigureAwait(false);
                await using var lab = await SurrogateLab.StartAsync(count, imagesRoot, images.Catalog, fabric: viaFabric, agentLogLevel: Microsoft.Extensions.Logging.LogLevel.Error, cancellationToken: ct).ConfigureAwait(false);
                await using var front = await lab.OpenFrontAsync(ct).ConfigureAwait(false);
                await using var coordinator = viaFabric ? await lab.ConnectCoordinatorAsync(ct).ConfigureAwait(false) : null;
                var service = await lab.StartWebServiceAsync(front, lab.Hosts[0], "web", "served by a relocatable sandbox", cancellationToken: ct).ConfigureAwait(false);
                var fleet = lab.Hosts.Select((h, i) => new FleetHost(
                    coordinator is null ? h.Relocation : h.OnFabric(coordinator),
                    new HostConfiguration(Placement.RuntimeTier.Container, "lab", "debian-12"),
                    new NetworkLocation("lab", "uplink-" + i.ToString(CultureInfo.InvariantCulture)),
                    Capacity: 4)).ToList();
                await say.WriteLineAsync($"hosts: {string.Join(", ", fleet.Select(f => f.Host.Name))}; service {service.Url} on {fleet[0].Host.Name} at {service.Sandbox.Address}").ConfigureAwait(false);

                var random = parse.GetValue(seed) is { } s ? new Random(s) : new Random();
                var scheduler = new RelocationScheduler(fleet, new RelocationCoordinator(), new HeterogeneityPlacementPolicy(HeterogeneityWeights.Default), TimeProvider.System, random);
                scheduler.Track("web", clock, service.Binding);
                using var http = lab.ClientHttp(TimeSpan.FromSeconds(1));
                var client = ServiceClientLoad.Start(http, service.Url, service.Body);
                var moves = new List<RelocationReport>();
                using (var stop = CancellationTokenSource.CreateLinkedTokenSource(ct))
                {
                    stop.CancelAfter(runFor);
                    try
                    {
                        await scheduler.RunAsync(async r =>
                        {
                            if (r.Report is { } report)
                            {
                                moves.Add(report);
                            }

                            await output.WriteLineAsync(asJson ? JsonSerializer.Serialize(RunCommand.Summary(r), RunCommand.Json) : RunCommand.Describe(r)).ConfigureAwait(false);
                        }, stop.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                    {
                        // --for elapsed.
                    }
                }

                var seen = await client.StopAsync().ConfigureAwait(false);
                var summary = new LabSummary(
                    fleet.Count, viaFabric ? "xmpp-fabric" : "agent-socket", moves.Count(m => m.Succeeded), moves.Count(m => !m.Succeeded),
                    Percentiles.Of(moves.Where(m => m.Succeeded).Select(m => m.Downtime.TotalMilliseconds), 50),
                    Percentiles.Of(moves.Where(m => m.Succeeded).Select(m => m.Downtime.TotalMilliseconds), 99),
                    seen.Served, seen.Lost, seen.Wrong, seen.Retries, seen.LongestGaps(Math.Max(1, moves.Count)).LastOrDefault(),
                    moves.FirstOrDefault()?.LiveUnavailable,
                    [lab.LanNs, lab.FrontNs, lab.ClientNs, .. lab.Hosts.Select(h => h.HostNs)]);
                await output.WriteLineAsync(asJson ? JsonSerializer.Serialize(summary, RunCommand.Json) : Describe(summary)).ConfigureAwait(false);
                return summary.Failed == 0 && summary.Lost == 0 && summary.Wrong == 0 ? 0 : 1;
            }
            catch (Exception e) when (e is MtdException or Xmpp.XmppException or Host.MoatHostException or IOException)
            {
                await error.WriteLineAsync($"the lab could not run: {e.Message}").ConfigureAwait(false);
                return 1;
            }
            finally
            {
                if (Directory.Exists(imagesRoot))
                {
                    Directory.Delete(imagesRoot, recursive: true);
                }
            }
        });
        return command;
    }

    private static string Describe(LabSummary s) => string.Create(CultureInfo.InvariantCulture, $"""
        moves: {s.Moved} succeeded, {s.Failed} failed (control path: {s.ControlPath}); downtime p50 {s.DowntimeP50Ms:0} ms, p99 {s.DowntimeP99Ms:0} ms
        client at the VIP: {s.Served} requests served, {s.Lost} lost, {s.Wrong} wrong answers, {s.Retries} retried attempts; longest gap {s.LongestGapMs:0} ms
        migration: cold{(s.LiveUnavailable is null ? "" : $" (live unavailable: {s.LiveUnavailable})")}
        """);

    /// <summary>What a lab run did and what its client saw; <c>Namespaces</c> are the network namespaces it made (removed
    /// when it ends).</summary>
    internal sealed record LabSummary(int Hosts, string ControlPath, int Moved, int Failed, double DowntimeP50Ms, double DowntimeP99Ms,
        long Served, long Lost, long Wrong, long Retries, double LongestGapMs, string? LiveUnavailable, IReadOnlyList<string> Namespaces);
}
