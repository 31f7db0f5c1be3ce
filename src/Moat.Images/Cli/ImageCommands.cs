using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Moat.Images.Build;
using Moat.Images.Import;
using Moat.Images.Store;

namespace Moat.Images.Cli;

/// <summary>The <c>moat image</c> command tree: build, import, list, inspect, tag and remove reference images.</summary>
public static class ImageCommands
{
    /// <summary>
    /// Where Moat keeps its state; images live in <c>&lt;state-dir&gt;/images</c>. Recursive, so it can be given after
    /// any subcommand; the lead may add this same instance to the root command.
    /// </summary>
    public static Option<string> StateDirOption { get; } = new("--state-dir")
    {
        Description = "Moat's state folder; images are kept in <state-dir>/images.",
        DefaultValueFactory = _ => "/var/lib/moat",
        Recursive = true,
    };

    public static Command Create()
    {
        var image = new Command(
            "image",
            "Build, import and manage the read-only reference images sandboxes start from.\n"
            + "Example: moat image build busybox && moat image ls");
        image.Options.Add(StateDirOption);
        image.Subcommands.Add(CreateList());
        image.Subcommands.Add(CreateBuild());
        image.Subcommands.Add(CreateImport());
        image.Subcommands.Add(CreateInspect());
        image.Subcommands.Add(CreateRemove());
        image.Subcommands.Add(CreateTag());
        return image;
    }

    private static Command CreateList()
    {
        var json = new Option<bool>("--json") { Description = "Print a JSON array of image descriptions." };
        var ls = new Command("ls", "List the images in the store, newest first.\nExample: moat image ls --json");
        ls.Options.Add(json);
        ls.SetAction((parseResult, _) => RunAsync(parseResult, () =>
        {
            IReadOnlyList<ImageInfo> images = OpenStore(parseResult).List();
            if (parseResult.GetValue(json))
            {
                Out(parseResult).WriteLine(JsonSerializer.Serialize(images.ToList(), ImageJson.Default.ListImageInfo));
                return Task.FromResult(0);
            }

            Out(parseResult).WriteLine($"{"TAGS",-24} {"DIGEST",-12} {"SIZE",10} {"FILES",7} {"CREATED",-20} SOURCE");
            foreach (ImageInfo i in images)
            {
                string tags = i.Tags.Count == 0 ? "<none>" : string.Join(",", i.Tags);
                Out(parseResult).WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"{tags,-24} {i.ShortDigest,-12} {FormatSize(i.Size),10} {i.FileCount,7} {i.Created:yyyy-MM-dd HH:mm:ss}  {i.Source}"));
            }

            return Task.FromResult(0);
        }));
        return ls;
    }

    private static Command CreateBuild()
    {
        var build = new Command("build", "Build a reference image on this host.\nExample: moat image build busybox --tag busybox");

        var busyboxTag = new Option<string>("--tag") { Description = "Tag to give the image.", DefaultValueFactory = _ => "busybox" };
        var binary = new Option<string>("--busybox") { Description = "Static busybox binary to use.", DefaultValueFactory = _ => "/bin/busybox" };
        var busybox = new Command(
            "busybox",
            "Build a tiny image from Debian's busybox-static: the binary, one link per applet, a minimal /etc. Takes about a second.\n"
            + "Example: moat image build busybox");
        busybox.Options.Add(busyboxTag);
        busybox.Options.Add(binary);
        busybox.SetAction((parseResult, ct) => RunAsync(parseResult, async () =>
        {
            ImageInfo image = await OpenStore(parseResult)
                .BuildBusyboxAsync(parseResult.GetValue(busyboxTag), parseResult.GetValue(binary)!, ct).ConfigureAwait(false);
            Out(parseResult).WriteLine(image.Digest);
            return 0;
        }));

        var debianTag = new Option<string>("--tag") { Description = "Tag to give the image.", DefaultValueFactory = _ => "debian" };
        var suite = new Option<string>("--suite") { Description = "Debian suite to install.", DefaultValueFactory = _ => "bookworm" };
        var mirror = new Option<string?>("--mirror") { Description = "Mirror URL; default: the one apt uses on this host." };
        var debian = new Command(
            "debian",
            "Build a minimal Debian (debootstrap --variant=minbase) from the mirror apt uses on this host. Takes a minute or more; progress on stderr.\n"
            + "Example: moat image build debian --suite bookworm --tag debian");
        debian.Options.Add(debianTag);
        debian.Options.Add(suite);
        debian.Options.Add(mirror);
        debian.SetAction((parseResult, ct) => RunAsync(parseResult, async () =>
        {
            var options = new DebianBuildOptions(parseResult.GetValue(suite)!, parseResult.GetValue(mirror));
            ImageInfo image = await OpenStore(parseResult)
                .BuildDebianAsync(parseResult.GetValue(debianTag), options, StderrProgress(parseResult), ct).ConfigureAwait(false);
            Out(parseResult).WriteLine(image.Digest);
            return 0;
        }));

        build.Subcommands.Add(busybox);
        build.Subcommands.Add(debian);
        return build;
    }

    private static Command CreateImport()
    {
        var file = new Argument<string>("FILE") { Description = "A 'docker save' tar or an OCI image-layout tar, optionally gzip-compressed." };
        var tag = new Option<string?>("--tag") { Description = "Tag to give the image; default: the name recorded in the archive." };
        var maxSize = new Option<string?>("--max-size")
        {
            Description = "Refuse an archive whose layers unpack to more than this many bytes (a K, M or G suffix allowed); default 32G.",
        };
        var import = new Command(
            "import",
            "Import an image archive into the store, verifying blob digests and refusing entries that would escape the root file system. Progress on stderr.\n"
            + "Example: docker save busybox:latest -o busybox.tar && moat image import busybox.tar --tag busybox");
        import.Arguments.Add(file);
        import.Options.Add(tag);
        import.Options.Add(maxSize);
        import.SetAction((parseResult, ct) => RunAsync(parseResult, async () =>
        {
            ImportLimits limits = parseResult.GetValue(maxSize) is { } size
                ? ImportLimits.Default with { MaxUnpackedBytes = ParseSize(size, "--max-size") }
                : ImportLimits.Default;
            ImageInfo image = await OpenStore(parseResult, limits)
                .ImportAsync(parseResult.GetValue(file)!, parseResult.GetValue(tag), StderrProgress(parseResult), ct).ConfigureAwait(false);
            Out(parseResult).WriteLine(image.Digest);
            return 0;
        }));
        return import;
    }

    private static Command CreateInspect()
    {
        var name = new Argument<string>("NAME") { Description = "A tag or a unique prefix of a digest." };
        var json = new Option<bool>("--json") { Description = "Print the image description as JSON." };
        var inspect = new Command("inspect", "Show an image's digest, tags, size, run config and root file system path.\nExample: moat image inspect busybox --json");
        inspect.Arguments.Add(name);
        inspect.Options.Add(json);
        inspect.SetAction((parseResult, _) => RunAsync(parseResult, () =>
        {
            ImageStore store = OpenStore(parseResult);
            ImageInfo image = store.Get(parseResult.GetValue(name)!);
            if (parseResult.GetValue(json))
            {
                Out(parseResult).WriteLine(JsonSerializer.Serialize(image, ImageJson.Default.ImageInfo));
                return Task.FromResult(0);
            }

            Out(parseResult).WriteLine(string.Create(CultureInfo.InvariantCulture, $"""
                digest:          sha256:{image.Digest}
                tags:            {string.Join(", ", image.Tags)}
                created:         {image.Created:u}
                size:            {FormatSize(image.Size)} in {image.FileCount} entries
                source:          {image.Source}
                package manager: {image.PackageManager.ToString().ToLowerInvariant()}
                entrypoint:      {string.Join(' ', image.Config.Entrypoint)}
                cmd:             {string.Join(' ', image.Config.Cmd)}
                env:             {string.Join(' ', image.Config.Env)}
                working dir:     {image.Config.WorkingDir}
                user:            {image.Config.User}
                rootfs:          {store.RootfsPath(image)}
                """));
            return Task.FromResult(0);
        }));
        return inspect;
    }

    private static Command CreateRemove()
    {
        var name = new Argument<string>("NAME") { Description = "A tag or a unique prefix of a digest." };
        var rm = new Command(
            "rm",
            "Remove an image and all its tags. Refused while a mounted overlay uses the image as its lower layer.\nExample: moat image rm busybox");
        rm.Arguments.Add(name);
        rm.SetAction((parseResult, ct) => RunAsync(parseResult, async () =>
        {
            ImageStore store = OpenStore(parseResult);
            await store.RemoveAsync(parseResult.GetValue(name)!, image => OverlayUsage.IsMountedLower(store.RootfsPath(image)), ct).ConfigureAwait(false);
            return 0;
        }));
        return rm;
    }

    private static Command CreateTag()
    {
        var name = new Argument<string>("NAME") { Description = "A tag or a unique prefix of a digest." };
        var tag = new Argument<string>("TAG") { Description = "The new tag; it moves off any image that had it." };
        var command = new Command("tag", "Point a tag at an image, moving it off any other image.\nExample: moat image tag 3f2a9c1b stable");
        command.Arguments.Add(name);
        command.Arguments.Add(tag);
        command.SetAction((parseResult, _) => RunAsync(parseResult, () =>
        {
            ImageInfo image = OpenStore(parseResult).Tag(parseResult.GetValue(name)!, parseResult.GetValue(tag)!);
            Out(parseResult).WriteLine(image.Digest);
            return Task.FromResult(0);
        }));
        return command;
    }

    private static ImageStore OpenStore(ParseResult parseResult, ImportLimits? limits = null)
    {
        return ImageStore.Open(Path.Combine(parseResult.GetValue(StateDirOption)!, "images"), limits: limits);
    }

    private static long ParseSize(string text, string option)
    {
        long unit = text.Length == 0 ? 1 : char.ToUpperInvariant(text[^1]) switch
        {
            'K' => 1L << 10,
            'M' => 1L << 20,
            'G' => 1L << 30,
            _ => 1,
        };
        string digits = unit == 1 ? text : text[..^1];
        return long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long value) && value > 0 && value <= long.MaxValue / unit
            ? value * unit
            : throw new ImageException($"{option} '{text}' is not a size; give a positive number of bytes, optionally with a K, M or G suffix (e.g. 4G).");
    }

    private static TextWriter Out(ParseResult parseResult) => parseResult.InvocationConfiguration.Output;

    private static Progress<ImageProgress> StderrProgress(ParseResult parseResult)
    {
        TextWriter error = parseResult.InvocationConfiguration.Error;
        return new(p => error.WriteLine($"[{p.Stage}] {p.Message}"));
    }

    private static async Task<int> RunAsync(ParseResult parseResult, Func<Task<int>> action)
    {
        TextWriter error = parseResult.InvocationConfiguration.Error;
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (ImageException ex)
        {
            await error.WriteLineAsync(ex.Message).ConfigureAwait(false);
            return 1;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or Moat.Linux.LinuxException)
        {
            await error.WriteLineAsync($"The image store could not be used: {ex.Message}").ConfigureAwait(false);
            return 1;
        }
        catch (OperationCanceledException)
        {
            await error.WriteLineAsync("Cancelled; nothing was added to the store.").ConfigureAwait(false);
            return 130;
        }
    }

    private static string FormatSize(long bytes) => bytes switch
    {
        >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):0.0} GiB"),
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):0.0} MiB"),
        >= 1L << 10 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 10):0.0} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
    };
}
