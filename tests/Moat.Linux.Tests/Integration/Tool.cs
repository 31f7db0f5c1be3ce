using System.Diagnostics;
using System.Text.Json;

namespace Moat.Linux.Tests.Integration;

/// <summary>Runs iproute2 and other tools with machine-readable output, to check kernel state independently of Moat.Linux.</summary>
internal static class Tool
{
    public static (int ExitCode, string Stdout, string Stderr) Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr);
    }

    public static string MustRun(string file, params string[] args)
    {
        var (code, stdout, stderr) = Run(file, args);
        Assert.True(code == 0, $"{file} {string.Join(' ', args)} exited {code}: {stderr}");
        return stdout;
    }

    /// <summary>`ip -j ARGS`, parsed.</summary>
    public static JsonElement IpJson(params string[] args)
    {
        var text = MustRun("ip", ["-j", .. args]);
        return JsonDocument.Parse(string.IsNullOrWhiteSpace(text) ? "[]" : text).RootElement;
    }

    public static IReadOnlyList<string> NetnsNames() =>
        [.. IpJson("netns", "list").EnumerateArray().Select(e => e.GetProperty("name").GetString()!)];

    /// <summary>The links of namespace NS (or the current one), by name.</summary>
    public static Dictionary<string, JsonElement> Links(string? ns) =>
        (ns is null ? IpJson("-d", "link", "show") : IpJson("-n", ns, "-d", "link", "show"))
            .EnumerateArray().ToDictionary(e => e.GetProperty("ifname").GetString()!);

    /// <summary>"ADDRESS/PREFIX" strings of the IPv4 addresses of interface IF in namespace NS.</summary>
    public static IReadOnlyList<string> Addresses(string ns, string ifname) =>
        [.. IpJson("-n", ns, "-4", "addr", "show", "dev", ifname).EnumerateArray()
            .SelectMany(l => l.GetProperty("addr_info").EnumerateArray())
            .Select(a => $"{a.GetProperty("local").GetString()}/{a.GetProperty("prefixlen").GetInt32()}")];

    public static JsonElement[] Routes(string ns, string family = "-4") =>
        [.. IpJson("-n", ns, family, "route", "show", "table", "all").EnumerateArray()
            .Where(r => !r.TryGetProperty("table", out var t) || t.GetString() is not "local")];

    public static bool HasFlag(JsonElement element, string flag) =>
        element.TryGetProperty("flags", out var flags) && flags.EnumerateArray().Any(f => f.GetString() == flag);
}
