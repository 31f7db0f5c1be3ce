using System.Diagnostics;
using System.Formats.Tar;
using System.Globalization;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Moat.Images.Store;

[assembly: SupportedOSPlatform("linux")]

// Macro benchmark of the image store: each Moat figure is printed beside a peer tool doing the same physical work
// in the same run (cp -a, tar -x, tar | sha256sum), which is the floor for that operation on this machine.
// Usage: dotnet run -c Release --project bench/Moat.Images.Bench [-- --runs 5 --megabytes 100]
int runs = ArgValue("--runs", 5);
int megabytes = ArgValue("--megabytes", 100);
string work = Path.Combine(Path.GetTempPath(), "moat-images-bench-" + Guid.NewGuid().ToString("N"));
Directory.CreateDirectory(work);
try
{
    var store = ImageStore.Open(Path.Combine(work, "images"));
    var rows = new List<string>();

    // 1. busybox image build (copy binary, ~270 links, /etc, digest, atomic commit) vs cp -a of the finished tree.
    ImageInfo busybox = await store.BuildBusyboxAsync("busybox");
    var build = await MeasureAsync(runs, async i => await store.BuildBusyboxAsync($"b{i}"));
    var copy = await MeasureAsync(runs, i => Shell($"cp -a {store.RootfsPath(busybox)} {work}/cp{i}"));
    rows.Add(Row("build busybox image", build, "cp -a of the same tree", copy));

    // 2. import of an OCI archive with one gzip layer (busybox + synthetic files) vs tar -xzf of the same layer.
    string tree = Path.Combine(work, "tree");
    await Shell($"cp -a {store.RootfsPath(busybox)} {tree}");
    var random = new Random(42);
    byte[] buffer = new byte[64 * 1024];
    for (int i = 0; i < megabytes * 16; i++)
    {
        string dir = Path.Combine(tree, "data", (i % 64).ToString(CultureInfo.InvariantCulture));
        Directory.CreateDirectory(dir);
        random.NextBytes(buffer);
        File.WriteAllBytes(Path.Combine(dir, $"f{i}.bin"), buffer);
    }

    string layer = Path.Combine(work, "layer.tar.gz");
    await Shell($"tar -C {tree} -czf {layer} .");
    string archive = Path.Combine(work, "oci.tar");
    WriteOci(archive, File.ReadAllBytes(layer));
    var import = await MeasureAsync(runs, async i =>
    {
        ImageInfo image = await store.ImportAsync(archive, $"i{i}");
        await store.RemoveAsync(image.Digest);
    });
    var untar = await MeasureAsync(runs, i => Shell($"mkdir {work}/x{i} && tar -C {work}/x{i} -xzf {layer} && rm -rf {work}/x{i}"));
    rows.Add(Row($"import OCI tar ({megabytes} MiB, 1 gzip layer) + remove", import, "tar -xzf of the layer + rm -rf", untar));

    // 3. content digest of the tree vs hashing the same bytes with tar | sha256sum.
    var digest = await MeasureAsync(runs, _ => Task.Run(() => TreeDigest.Compute(tree)));
    var sha = await MeasureAsync(runs, _ => Shell($"tar -C {tree} -cf - . | sha256sum > /dev/null"));
    rows.Add(Row($"tree digest ({megabytes} MiB, {TreeDigest.Compute(tree).FileCount} entries)", digest, "tar -cf - | sha256sum", sha));

    Console.WriteLine($"Moat.Images macro benchmark, {runs} runs each, median (min-max) in ms; {DateTime.UtcNow:yyyy-MM-dd}, {Environment.ProcessorCount} cores");
    Console.WriteLine();
    Console.WriteLine("| operation | Moat | peer / floor | peer |");
    Console.WriteLine("|---|---:|---|---:|");
    rows.ForEach(Console.WriteLine);
}
finally
{
    Directory.Delete(work, recursive: true);
}

static string Row(string name, double[] moat, string peerName, double[] peer) =>
    $"| {name} | {Format(moat)} | {peerName} | {Format(peer)} |";

static string Format(double[] ms)
{
    double[] sorted = [.. ms.Order()];
    return string.Create(CultureInfo.InvariantCulture, $"{sorted[sorted.Length / 2]:0.0} ({sorted[0]:0.0}-{sorted[^1]:0.0})");
}

static async Task<double[]> MeasureAsync(int runs, Func<int, Task> action)
{
    var times = new double[runs];
    for (int i = 0; i < runs; i++)
    {
        long start = Stopwatch.GetTimestamp();
        await action(i);
        times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    return times;
}

static async Task Shell(string command)
{
    using Process process = Process.Start("/bin/sh", ["-c", command]);
    await process.WaitForExitAsync();
    if (process.ExitCode != 0)
    {
        throw new InvalidOperationException($"'{command}' exited {process.ExitCode}");
    }
}

static void WriteOci(string path, byte[] layerGz)
{
    var blobs = new List<(string, byte[])>();
    JsonObject Descriptor(string mediaType, byte[] data)
    {
        string digest = Convert.ToHexStringLower(SHA256.HashData(data));
        blobs.Add((digest, data));
        return new JsonObject { ["mediaType"] = mediaType, ["digest"] = "sha256:" + digest, ["size"] = data.Length };
    }

    JsonObject config = Descriptor("application/vnd.oci.image.config.v1+json", """{"config":{"Cmd":["/bin/sh"]}}"""u8.ToArray());
    JsonObject layer = Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layerGz);
    var manifest = new JsonObject { ["schemaVersion"] = 2, ["config"] = config, ["layers"] = new JsonArray(layer) };
    JsonObject manifestDescriptor = Descriptor("application/vnd.oci.image.manifest.v1+json", Encoding.UTF8.GetBytes(manifest.ToJsonString()));
    var index = new JsonObject { ["schemaVersion"] = 2, ["manifests"] = new JsonArray(manifestDescriptor) };
    using var stream = File.Create(path);
    using var writer = new TarWriter(stream, TarEntryFormat.Pax);
    void Add(string name, byte[] data) => writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(data) });
    Add("oci-layout", """{"imageLayoutVersion":"1.0.0"}"""u8.ToArray());
    Add("index.json", Encoding.UTF8.GetBytes(index.ToJsonString()));
    foreach (var (digest, data) in blobs)
    {
        Add($"blobs/sha256/{digest}", data);
    }
}

int ArgValue(string name, int fallback)
{
    int at = Array.IndexOf(args, name);
    return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
}
