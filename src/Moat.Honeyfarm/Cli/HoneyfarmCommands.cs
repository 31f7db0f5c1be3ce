using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Moat.Honeyfarm.Clones;
using Moat.Honeyfarm.Containment;
using Moat.Honeyfarm.Control;
using Moat.Honeyfarm.Gateway;
using Moat.Honeyfarm.Lab;
using Moat.Honeyfarm.Universes;
using Moat.Images.Cli;
using Moat.Images.Store;
using Moat.Linux.Namespaces;

namespace Moat.Honeyfarm.Cli;

/// <summary>The <c>moat honeyfarm</c> verbs: run a gateway in a namespace, or a self-contained demo.</summary>
public static class HoneyfarmCommands
{
    public static Command Create()
    {
        var honeyfarm = new Command("honeyfarm", "Honeyfarm mode (Potemkin): a dark address range answered by clones bound on first contact, kept apart in universes and contained.");
        honeyfarm.Subcommands.Add(CreateRun());
        honeyfarm.Subcommands.Add(CreateDemo());
        honeyfarm.Subcommands.Add(CreateReplay());
        honeyfarm.Subcommands.Add(CreateKept());
        foreach (var (verb, help) in new[]
        {
            ("status", "Counters of the running gateway: packets, clones bound, recycled, kept, live and warm; its range, policy and clone kind."),
            ("universes", "The running gateway's universes: each one's outside source, its clones and its chain of infection."),
            ("clones", "The running gateway's live clones, by universe and address."),
        })
        {
            honeyfarm.Subcommands.Add(CreateQuery(verb, help));
        }

        honeyfarm.Subcommands.Add(CreateExport());
        honeyfarm.Subcommands.Add(CreateClose());
        return honeyfarm;
    }

    private static readonly Option<string?> SocketOption = new("--socket")
    {
        Description = "The running gateway's control socket (default <state-dir>/honeyfarm/control.sock, where `moat honeyfarm run` puts it).",
    };

    private static string SocketPath(ParseResult parseResult) => parseResult.GetValue(SocketOption) ?? Path.Combine(FarmDir(parseResult), "control.sock");

    /// <summary>Sends one request to the running gateway; prints a clear sentence and returns null when it cannot.</summary>
    private static async Task<System.Text.Json.Nodes.JsonNode?> AskAsync(ParseResult parseResult, string request, CancellationToken cancellationToken)
    {
        try
        {
            var answer = await ControlClient.RequestAsync(SocketPath(parseResult), request, cancellationToken);
            if (answer is System.Text.Json.Nodes.JsonObject { } reply && reply["error"] is { } error)
            {
                parseResult.InvocationConfiguration.Error.WriteLine($"the gateway refused '{request}': {error}");
                return null;
            }

            return answer;
        }
        catch (HoneyfarmException e)
        {
            parseResult.InvocationConfiguration.Error.WriteLine(e.Message);
            return null;
        }
    }

    private static readonly System.Text.Json.JsonSerializerOptions Indented = new() { WriteIndented = true };

    private static Command CreateQuery(string verb, string help)
    {
        var json = new Option<bool>("--json") { Description = "Print the gateway's answer as JSON." };
        var command = new Command(verb, help + $"\n\nExample:\n  moat honeyfarm {verb} --json");
        command.Options.Add(SocketOption);
        command.Options.Add(json);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            if (await AskAsync(parseResult, verb, cancellationToken) is not { } answer)
            {
                return 1;
            }

            var output = parseResult.InvocationConfiguration.Output;
            if (parseResult.GetValue(json))
            {
                output.WriteLine(answer.ToJsonString(Indented));
                return 0;
            }

            switch (verb)
            {
                case "status":
                    output.WriteLine($"range {answer["range"]}, policy {answer["policy"]}, clones {answer["clones"]}, packets from clones blocked {answer["blockedPackets"]}");
                    foreach (var (name, value) in answer["counters"]!.AsObject())
                    {
                        output.WriteLine($"  {name,-16} {value}");
                    }

                    break;
                case "universes":
                    foreach (var u in answer.AsArray())
                    {
                        output.WriteLine($"universe {u!["id"]} (source {u["attacker"]?.ToString() ?? "shared"}): {u["clones"]!.AsArray().Count} clones");
                        foreach (var c in u["clones"]!.AsArray())
                        {
                            output.WriteLine($"  {c!["address"],-16} {c["host"]}  {c["name"]}");
                        }

                        foreach (var i in u["infections"]!.AsArray())
                        {
                            output.WriteLine($"  infection {i!["from"]} -> {i["to"]}");
                        }
                    }

                    break;
                default:
                    foreach (var c in answer.AsArray())
                    {
                        output.WriteLine($"{c!["address"],-16} universe {c["universe"],-4} {c["host"]}  {c["name"]}");
                    }

                    break;
            }

            return 0;
        });
        return command;
    }

    private static Command CreateExport()
    {
        var file = new Option<FileInfo?>("--output") { Description = "Write the export to this file instead of standard output." };
        var export = new Command("export", """
            Export the running gateway's records as one JSON document: its status and counters, every universe with its
            clones and chain of infection, and the clones kept for analysis (files changed, processes, programs run).

            Example:
              moat honeyfarm export --output farm.json
            """);
        export.Options.Add(SocketOption);
        export.Options.Add(file);
        export.SetAction(async (parseResult, cancellationToken) =>
        {
            if (await AskAsync(parseResult, "export", cancellationToken) is not { } answer)
            {
                return 1;
            }

            var text = answer.ToJsonString(Indented);
            if (parseResult.GetValue(file) is { } target)
            {
                await File.WriteAllTextAsync(target.FullName, text + "\n", cancellationToken);
                parseResult.InvocationConfiguration.Output.WriteLine($"exported to {target.FullName}");
            }
            else
            {
                parseResult.InvocationConfiguration.Output.WriteLine(text);
            }

            return 0;
        });
        return export;
    }

    private static Command CreateClose()
    {
        var id = new Argument<int>("universe") { Description = "The universe's id (see `moat honeyfarm universes`)." };
        var close = new Command("close", """
            Close a universe of the running gateway: its clones are retired (changed ones kept for analysis), its
            routes, rules and device go; its source's next packet opens a new universe.

            Example:
              moat honeyfarm close 3
            """);
        close.Arguments.Add(id);
        close.Options.Add(SocketOption);
        close.SetAction(async (parseResult, cancellationToken) =>
        {
            var universe = parseResult.GetValue(id);
            if (await AskAsync(parseResult, $"close {universe.ToString(CultureInfo.InvariantCulture)}", cancellationToken) is not { } answer)
            {
                return 1;
            }

            if (answer["closed"]?.GetValue<bool>() != true)
            {
                parseResult.InvocationConfiguration.Error.WriteLine($"universe {universe} is not open in this gateway; see `moat honeyfarm universes`.");
                return 1;
            }

            parseResult.InvocationConfiguration.Output.WriteLine($"closed universe {universe}");
            return 0;
        });
        return close;
    }

    private static readonly Option<string> Clones = new("--clones")
    {
        Description = "How clones run: gvisor (real sandboxes over a reference image on gVisor's kernel: runsc, ptrace platform; the untrusted tier, so a worm's kernel exploit lands in gVisor; changed clones are kept for analysis), runc (the same on the host kernel, faster to prepare) or in-process (light listeners in the gateway's process).",
        DefaultValueFactory = _ => "gvisor",
    };

    private static readonly Option<string> Image = new("--image")
    {
        Description = "The clones' reference image: a name in <state-dir>/images (built from this machine's busybox when it is \"busybox\" and missing) or a root file system folder.",
        DefaultValueFactory = _ => "busybox",
    };

    /// <summary>Where a farm keeps clone overlays, runc's state and kept clones.</summary>
    private static string FarmDir(ParseResult parseResult) => Path.Combine(parseResult.GetValue(ImageCommands.StateDirOption)!, "honeyfarm");

    /// <summary>The container options the --clones/--image switches ask for (null: in-process clones), or an error sentence.</summary>
    private static async Task<(ContainerCloneOptions? Options, string? Error)> ContainersAsync(ParseResult parseResult, CancellationToken cancellationToken)
    {
        switch (parseResult.GetValue(Clones))
        {
            case "in-process":
                return (null, null);
            case "runc" or "gvisor":
                break;
            default:
                return (null, $"--clones '{parseResult.GetValue(Clones)}' is not valid; use runc, gvisor or in-process.");
        }

        var image = parseResult.GetValue(Image)!;
        string rootfs;
        if (Directory.Exists(image))
        {
            rootfs = image;
        }
        else
        {
            var store = ImageStore.Open(Path.Combine(parseResult.GetValue(ImageCommands.StateDirOption)!, "images"));
            var info = store.Resolve(image);
            if (info is null && image == "busybox")
            {
                info = await store.BuildBusyboxAsync(cancellationToken: cancellationToken);
            }

            if (info is null)
            {
                return (null, $"--image '{image}' is neither an image in the state folder's store nor a folder; see `moat image ls`.");
            }

            rootfs = store.RootfsPath(info);
        }

        var options = new ContainerCloneOptions
        {
            ImageRootfs = rootfs,
            StateDir = FarmDir(parseResult),
            InitBinary = Path.Combine(AppContext.BaseDirectory, "moat-init"),
            Runtime = parseResult.GetValue(Clones) == "gvisor" ? "runsc" : "runc",
        };
        try
        {
            options.Validate();
        }
        catch (ArgumentException e)
        {
            return (null, e.Message);
        }

        return (options, null);
    }

    private static Command CreateKept()
    {
        var json = new Option<bool>("--json") { Description = "Print the kept clones as JSON." };
        var kept = new Command("kept", """
            List the clones kept for analysis (their files or processes changed), newest first: each one's address,
            universe and identity, what changed, and the folder holding its upper layer (filesystem-changes.tar),
            console output and account (clone.json).

            Example:
              moat honeyfarm kept --json
            """);
        kept.Options.Add(json);
        kept.SetAction(parseResult =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var folder = Path.Combine(FarmDir(parseResult), "kept");
            var clones = new List<KeptClone>();
            foreach (var account in Directory.Exists(folder) ? Directory.GetFiles(folder, "clone.json", SearchOption.AllDirectories) : [])
            {
                try
                {
                    if (System.Text.Json.JsonSerializer.Deserialize<KeptClone>(File.ReadAllText(account), ContainerServices.KeptJson) is { } c)
                    {
                        clones.Add(c);
                    }
                }
                catch (System.Text.Json.JsonException e)
                {
                    parseResult.InvocationConfiguration.Error.WriteLine($"{account}: not a kept clone's account ({e.Message}); skipped.");
                }
            }

            clones.Sort((a, b) => b.KeptAt.CompareTo(a.KeptAt));
            if (parseResult.GetValue(json))
            {
                output.WriteLine(System.Text.Json.JsonSerializer.Serialize(clones, ContainerServices.KeptJson));
                return 0;
            }

            if (clones.Count == 0)
            {
                output.WriteLine($"no kept clones in {folder}");
                return 0;
            }

            foreach (var c in clones)
            {
                output.WriteLine($"{c.Name}  kept {c.KeptAt:u}  {c.Describe}");
                foreach (var f in c.Files)
                {
                    output.WriteLine($"  {f.Change,-8} {f.Path}  {f.Type}{(f.Sha256 is null ? "" : " sha256 " + f.Sha256)}");
                }

                foreach (var p in c.Processes)
                {
                    output.WriteLine($"  running  {p}");
                }

                output.WriteLine($"  evidence {c.Folder}");
            }

            return 0;
        });
        return kept;
    }

    private static Command CreateRun()
    {
        var netns = new Option<string>("--netns") { Description = "The network namespace the gateway takes over (it must exist and hold the outside interface).", Required = true };
        var range = new Option<string>("--range") { Description = "The dark IPv4 range in CIDR form, e.g. 198.18.128.0/17.", Required = true };
        var outside = new Option<string>("--outside") { Description = "The interface in that namespace facing the attackers.", Required = true };
        var via = new Option<string?>("--outside-gateway") { Description = "The router on the outside, when attackers are not on the outside link." };
        var policy = new Option<string>("--policy") { Description = "Export policy for what clones send: block, reply-only or reflect.", DefaultValueFactory = _ => "reflect" };
        var maxClones = new Option<int>("--max-clones") { Description = "The most live clones.", DefaultValueFactory = _ => 256 };
        var warm = new Option<int>("--warm") { Description = "Clones kept pre-started.", DefaultValueFactory = _ => 8 };
        var scan = new Option<double>("--scan-interval") { Description = "Seconds between new clones for one (source, port, protocol); 0 turns the scan filter off.", DefaultValueFactory = _ => 60 };
        var idle = new Option<double>("--idle") { Description = "Seconds without traffic after which a clone is recycled.", DefaultValueFactory = _ => 300 };
        var full = new Option<string>("--when-full") { Description = "When every clone is taken: recycle (the longest idle) or drop.", DefaultValueFactory = _ => "recycle" };
        var newSources = new Option<int>("--new-sources") { Description = "New outside sources admitted a second (each costs a kernel rule and may open a universe); more are dropped and counted.", DefaultValueFactory = _ => 100 };
        var maxSources = new Option<int>("--max-sources") { Description = "The most outside sources kept (a kernel rule each); beyond it the shared universe's least recently seen source gives way.", DefaultValueFactory = _ => 4096 };
        var report = new Option<double>("--report") { Description = "Seconds between status reports.", DefaultValueFactory = _ => 10 };
        var dns = new Option<bool>("--dns") { Description = "Scrubbed DNS: clones may ask the farm's resolver (169.254.53.53), which answers every A query with an address of the dark range and forwards nothing." };
        var dnsRate = new Option<int>("--dns-rate") { Description = "With --dns: the most queries a second per clone (more are dropped by the kernel).", DefaultValueFactory = _ => 10 };
        var capture = new Option<bool>("--capture") { Description = "Capture each universe's packets to <state-dir>/honeyfarm/captures/universe-ID.pcap (up to 256 MiB each)." };
        var personalities = new Option<string[]>("--personality")
        {
            Description = $"RANGE=NAME: addresses of RANGE (inside --range) are answered by clones of personality NAME (repeatable; the longest range wins; elsewhere {Personality.Default.Name}). Known: {string.Join(", ", Personality.Known.Keys)}.",
            AllowMultipleArgumentsPerToken = false,
        };

        var run = new Command(
            "run",
            """
            Run the gateway in an existing network namespace until interrupted, printing universes and clones.

            Example:
              moat honeyfarm run --netns farm --range 198.18.128.0/17 --outside out0 --policy reflect
            """);
        foreach (var option in new Option[] { netns, range, outside, via, policy, maxClones, warm, scan, idle, full, newSources, maxSources, report, personalities, dns, dnsRate, capture, Clones, Image, SocketOption })
        {
            run.Options.Add(option);
        }

        run.SetAction(async (parseResult, cancellationToken) =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            var error = parseResult.InvocationConfiguration.Error;
            if (!IPNetwork.TryParse(parseResult.GetValue(range)!, out var dark))
            {
                error.WriteLine($"--range '{parseResult.GetValue(range)}' is not a CIDR range; write it as 198.18.128.0/17.");
                return 2;
            }

            if (ParsePolicy(parseResult.GetValue(policy)!) is not { } export)
            {
                error.WriteLine($"--policy '{parseResult.GetValue(policy)}' is not a policy; valid ones are block, reply-only and reflect.");
                return 2;
            }

            if (parseResult.GetValue(full) is not ("recycle" or "drop"))
            {
                error.WriteLine($"--when-full '{parseResult.GetValue(full)}' is not valid; use recycle or drop.");
                return 2;
            }

            IPAddress? gateway = null;
            if (parseResult.GetValue(via) is { } v && !IPAddress.TryParse(v, out gateway))
            {
                error.WriteLine($"--outside-gateway '{v}' is not an IPv4 address.");
                return 2;
            }

            var name = parseResult.GetValue(netns)!;
            if (!NetworkNamespace.Exists(name))
            {
                error.WriteLine($"--netns '{name}' does not exist; create it (ip netns add {name}) and move the outside interface into it.");
                return 2;
            }

            var options = new HoneyfarmOptions
            {
                DarkRange = dark,
                OutsideInterface = parseResult.GetValue(outside)!,
                OutsideGateway = gateway,
                Export = export,
                MaxClones = parseResult.GetValue(maxClones),
                WarmClones = parseResult.GetValue(warm),
                ScanFilterInterval = TimeSpan.FromSeconds(parseResult.GetValue(scan)),
                IdleTimeout = TimeSpan.FromSeconds(parseResult.GetValue(idle)),
                WhenFull = parseResult.GetValue(full) == "drop" ? FullPolicy.Drop : FullPolicy.RecycleLongestIdle,
                NewSourcesPerSecond = parseResult.GetValue(newSources),
                MaxSources = parseResult.GetValue(maxSources),
            };
            var (containers, problem) = await ContainersAsync(parseResult, cancellationToken);
            if (problem is not null)
            {
                error.WriteLine(problem);
                return 2;
            }

            var ranges = new List<PersonalityRange>();
            foreach (var p in parseResult.GetValue(personalities) ?? [])
            {
                var parts = p.Split('=', 2);
                if (parts.Length != 2 || !IPNetwork.TryParse(parts[0], out var r) || !Personality.Known.TryGetValue(parts[1], out var known))
                {
                    error.WriteLine($"--personality '{p}' is not RANGE=NAME with a CIDR range and one of {string.Join(", ", Personality.Known.Keys)}; e.g. 198.18.200.0/24=web-server.");
                    return 2;
                }

                ranges.Add(new PersonalityRange(r, known));
            }

            options = options with { Containers = containers, Personalities = ranges, ScrubbedDns = parseResult.GetValue(dns), DnsQueriesPerSecond = parseResult.GetValue(dnsRate),
                CaptureDir = parseResult.GetValue(capture) ? Path.Combine(FarmDir(parseResult), "captures") : null };
            try
            {
                options.Validate();
            }
            catch (ArgumentException e)
            {
                error.WriteLine(e.Message);
                return 2;
            }

            using var ns = NetworkNamespace.Open(name);
            await using var farm = await HoneyfarmGateway.StartAsync(ns, options, cancellationToken: cancellationToken);
            await using var control = ControlServer.Start(farm, SocketPath(parseResult));
            output.WriteLine($"honeyfarm: {dark} in namespace {name}, policy {export}, clones {(containers is null ? "in-process" : containers.IsGvisor ? "gvisor" : containers.Runtime)}; control socket {SocketPath(parseResult)}; interrupt to stop.");
            try
            {
                while (true)
                {
                    await Task.Delay(TimeSpan.FromSeconds(parseResult.GetValue(report)), cancellationToken);
                    output.Write(Describe(farm));
                }
            }
            catch (OperationCanceledException)
            {
                return 0;
            }
        });
        return run;
    }

    private static Command CreateReplay()
    {
        var file = new Argument<FileInfo>("capture") { Description = "A pcap or pcapng file (Ethernet, raw IP or Linux cooked)." };
        var netns = new Option<string>("--netns") { Description = "The network namespace to send from: the attackers' side of a running gateway (moat honeyfarm run).", Required = true };
        var range = new Option<string>("--range") { Description = "The gateway's dark range; the capture's targets are mapped into it in order of first contact.", Required = true };
        var attackers = new Option<string[]>("--attacker") { Description = "An address of that namespace to send as (repeatable; the capture's initiators take them in turn).", Required = true, AllowMultipleArgumentsPerToken = false };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON." };
        var replay = new Command("replay", """
            Feed a capture into a running honeyfarm as if it came from outside: the capture's initiators (senders of
            TCP SYNs, or of its first packet) become the given attacker addresses, every address they touched becomes a
            distinct address of the dark range, and only their packets are sent (the clones answer for themselves).
            Example: moat honeyfarm replay scan.pcap --netns internet --range 198.18.128.0/17 --attacker 198.18.96.2
            """) { file, netns, range, attackers, json };
        replay.SetAction(parseResult =>
        {
            var error = parseResult.InvocationConfiguration.Error;
            var capture = parseResult.GetValue(file)!;
            if (!capture.Exists)
            {
                error.WriteLine($"{capture.FullName} does not exist.");
                return 2;
            }

            if (!IPNetwork.TryParse(parseResult.GetValue(range)!, out var dark) || dark.BaseAddress.AddressFamily != AddressFamily.InterNetwork)
            {
                error.WriteLine($"--range '{parseResult.GetValue(range)}' is not an IPv4 prefix such as 198.18.128.0/17.");
                return 2;
            }

            var from = new List<IPAddress>();
            foreach (var a in parseResult.GetValue(attackers) ?? [])
            {
                if (!IPAddress.TryParse(a, out var address) || address.AddressFamily != AddressFamily.InterNetwork)
                {
                    error.WriteLine($"--attacker '{a}' is not an IPv4 address.");
                    return 2;
                }

                from.Add(address);
            }

            var name = parseResult.GetValue(netns)!;
            if (!File.Exists(Path.Combine("/run/netns", name)))
            {
                error.WriteLine($"network namespace '{name}' does not exist (ip netns list).");
                return 2;
            }

            try
            {
                var plan = Replay.CaptureReplay.Plan(capture.FullName, dark, from);
                using var ns = NetworkNamespace.Open(name);
                var sent = Replay.CaptureReplay.Send(ns, plan);
                var output = parseResult.InvocationConfiguration.Output;
                output.WriteLine(parseResult.GetValue(json)
                    ? System.Text.Json.JsonSerializer.Serialize(new { file = capture.FullName, sent, packets = plan.Packets.Count, initiators = plan.Sources, addresses = plan.Destinations, skipped = plan.Skipped })
                    : $"sent {sent} of {plan.Packets.Count} packets: {plan.Sources} initiators as {string.Join(", ", from.Take(plan.Sources))}, {plan.Destinations} addresses touched, {plan.Skipped} records not replayed (replies, not IPv4, cut short)");
                return sent == plan.Packets.Count ? 0 : 1;
            }
            catch (HoneyfarmException e)
            {
                error.WriteLine(e.Message);
                return 2;
            }
        });
        return replay;
    }

    private static Command CreateDemo()
    {
        var policy = new Option<string>("--policy") { Description = "Export policy: block, reply-only or reflect.", DefaultValueFactory = _ => "reflect" };
        var demo = new Command(
            "demo",
            """
            Build a test internet and a honeyfarm in private namespaces (198.18.0.0/15 only), let two attackers probe
            the same dark addresses and one infected clone spread, print the universes, clones and chain of
            infection, and tear everything down.
            Example: moat honeyfarm demo
            """);
        demo.Options.Add(policy);
        demo.Options.Add(Clones);
        demo.Options.Add(Image);
        demo.SetAction(async (parseResult, cancellationToken) =>
        {
            var output = parseResult.InvocationConfiguration.Output;
            if (ParsePolicy(parseResult.GetValue(policy)!) is not { } export)
            {
                parseResult.InvocationConfiguration.Error.WriteLine($"--policy '{parseResult.GetValue(policy)}' is not a policy; valid ones are block, reply-only and reflect.");
                return 2;
            }

            var (containers, problem) = await ContainersAsync(parseResult, cancellationToken);
            if (problem is not null)
            {
                parseResult.InvocationConfiguration.Error.WriteLine(problem);
                return 2;
            }

            await using var lab = await FarmLab.StartAsync(o => o with { Export = export, ScanFilterInterval = TimeSpan.Zero, WarmClones = 4, Containers = containers }, cancellationToken);
            var a = IPAddress.Parse("198.18.130.10");
            var b = IPAddress.Parse("198.18.130.11");
            foreach (var (source, target) in new[] { (0, a), (1, a), (0, b) })
            {
                var greeting = await GreetAsync(lab.Internet, FarmLab.Source(source), target, cancellationToken);
                output.WriteLine($"{FarmLab.Source(source)} -> {target}:22  {greeting ?? "(no answer)"}");
            }

            var infected = lab.Gateway.Universes()[0].Clones.First(c => c.Address.Equals(a));
            using (var inside = NetworkNamespace.Open(infected.Name))
            {
                foreach (var target in new[] { IPAddress.Parse("198.18.131.1"), IPAddress.Parse("198.18.96.9") })
                {
                    var greeting = await GreetAsync(inside, null, target, cancellationToken);
                    output.WriteLine($"clone {a} (universe {infected.Universe}) -> {target}:22  {greeting ?? "(no answer: contained)"}");
                }
            }

            if (containers is not null)
            {
                // A real sandbox gives its caller a shell: the first attacker plants a file in clone a, then its universe
                // is closed; the changed clone is kept with what changed, the untouched ones leave nothing.
                var session = await ExchangeAsync(lab.Internet, FarmLab.Source(0), a, 22, "hostname; echo planted > /tmp/implant; exit\n", cancellationToken);
                output.WriteLine($"{FarmLab.Source(0)} -> {a}:22 shell: {string.Join(" | ", session.Split('\n', StringSplitOptions.RemoveEmptyEntries))}");
            }

            output.Write(Describe(lab.Gateway));
            output.WriteLine($"packets from clones dropped by policy: {await lab.Gateway.BlockedPacketsAsync(cancellationToken)}");
            if (containers is not null)
            {
                var universe = lab.Gateway.Universes().First(u => FarmLab.Source(0).Equals(u.Attacker));
                await lab.Gateway.CloseUniverseAsync(universe.Id);
                output.WriteLine($"closed universe {universe.Id}; clones kept for analysis (moat honeyfarm kept):");
                foreach (var k in lab.Gateway.KeptClones)
                {
                    output.WriteLine($"  {k.Name} {k.Describe}: {string.Join(", ", k.Files.Select(f => $"{f.Change} {f.Path}"))}; evidence in {k.Folder}");
                }
            }

            return 0;
        });
        return demo;
    }

    private static ExportPolicy? ParsePolicy(string value) => value switch
    {
        "block" => ExportPolicy.Block,
        "reply-only" => ExportPolicy.ReplyOnly,
        "reflect" => ExportPolicy.Reflect,
        _ => null,
    };

    private static string Describe(HoneyfarmGateway farm)
    {
        var s = new StringBuilder();
        var c = farm.Counters;
        s.Append(CultureInfo.InvariantCulture, $"counters: packets {c.PacketsIn}, malformed {c.Malformed}, scan-filtered {c.ScanFiltered}, dropped-full {c.DroppedFull}, bound {c.ClonesBound}, recycled {c.ClonesRecycled}, live {c.LiveClones}, warm {c.WarmClones}, sources {c.Sources} (refused {c.SourcesRefused}, evicted {c.SourcesEvicted})\n");
        foreach (UniverseStatus u in farm.Universes())
        {
            s.Append(CultureInfo.InvariantCulture, $"universe {u.Id} (source {u.Attacker?.ToString() ?? "shared"}): {u.Clones.Count} clones\n");
            foreach (var clone in u.Clones)
            {
                s.Append(CultureInfo.InvariantCulture, $"  {clone.Address,-16} {clone.HostName}  {clone.Name}  {(clone.Contacts < 0 ? "(a real sandbox: contacts not counted)" : $"contacts {clone.Contacts}")}\n");
            }

            foreach (var (from, to) in u.Infections)
            {
                s.Append(CultureInfo.InvariantCulture, $"  infection {from} -> {to}\n");
            }
        }

        return s.ToString();
    }

    /// <summary>Sends a request to ADDRESS:PORT and returns everything said back until the peer closes (bounded: 10 s).</summary>
    private static async Task<string> ExchangeAsync(NetworkNamespace ns, IPAddress from, IPAddress address, int port, string request, CancellationToken cancellationToken)
    {
        using var socket = NamespaceRunner.Run(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        socket.Bind(new IPEndPoint(from, 0));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        var text = new StringBuilder();
        try
        {
            await socket.ConnectAsync(new IPEndPoint(address, port), timeout.Token);
            await socket.SendAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None, timeout.Token);
            var buffer = new byte[4096];
            int n;
            while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
            {
                text.Append(Encoding.ASCII.GetString(buffer, 0, n));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException)
        {
            text.Append(CultureInfo.InvariantCulture, $"(cut short: {e.Message})");
        }

        return text.ToString();
    }

    private static async Task<string?> GreetAsync(NetworkNamespace ns, IPAddress? from, IPAddress address, CancellationToken cancellationToken)
    {
        using var socket = NamespaceRunner.Run(ns, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        if (from is not null)
        {
            socket.Bind(new IPEndPoint(from, 0));
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(3));
        try
        {
            await socket.ConnectAsync(new IPEndPoint(address, 22), timeout.Token);
            var buffer = new byte[512];
            var text = new StringBuilder();
            while (!text.ToString().Contains("address=", StringComparison.Ordinal) || !text.ToString().EndsWith('\n'))
            {
                var n = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                if (n == 0)
                {
                    break;
                }

                text.Append(Encoding.ASCII.GetString(buffer, 0, n));
            }

            return text.ToString().ReplaceLineEndings(" ").Trim();
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException)
        {
            return null;
        }
    }
}
