using System.Runtime.Versioning;

namespace Moat.Linux.Namespaces;

/// <summary>Reads and writes /proc/sys settings as seen from inside a network namespace (e.g. forwarding, proxy_arp).</summary>
[SupportedOSPlatform("linux")]
public static class Sysctl
{
    /// <summary>Writes <paramref name="value"/> to KEY ("net.ipv4.ip_forward" or "net/ipv4/ip_forward") inside <paramref name="ns"/>, or here when null.</summary>
    public static void Write(NetworkNamespace? ns, string key, string value)
    {
        var path = PathOf(key);
        ArgumentNullException.ThrowIfNull(value);
        if (ns is null)
        {
            File.WriteAllText(path, value);
            return;
        }

        // /proc/sys/net resolves against the namespace of the thread that opens the file.
        NamespaceRunner.Run(ns, () => File.WriteAllText(path, value));
    }

    /// <summary>Writes several settings inside <paramref name="ns"/> in one trip into it, in the order given.</summary>
    public static void Write(NetworkNamespace ns, IReadOnlyList<(string Key, string Value)> settings)
    {
        ArgumentNullException.ThrowIfNull(ns);
        ArgumentNullException.ThrowIfNull(settings);
        var paths = settings.Select(s => (Path: PathOf(s.Key), s.Value)).ToList();
        NamespaceRunner.Run(ns, () =>
        {
            foreach (var (path, value) in paths)
            {
                File.WriteAllText(path, value);
            }
        });
    }

    /// <summary>Reads KEY inside <paramref name="ns"/> (or here when null), without the trailing newline.</summary>
    public static string Read(NetworkNamespace? ns, string key)
    {
        var path = PathOf(key);
        return (ns is null ? File.ReadAllText(path) : NamespaceRunner.Run(ns, () => File.ReadAllText(path))).TrimEnd('\n');
    }

    internal static string PathOf(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        // Dotted keys cannot name interfaces with dots in them (eth0.100); slash keys can.
        var relative = key.Contains('/') ? key.Trim('/') : key.Replace('.', '/');
        if (relative.Length == 0 || relative.Split('/').Any(part => part is "" or "." or ".."))
        {
            throw new ArgumentException($"Sysctl key '{key}' is not valid: use a name like net.ipv4.ip_forward or net/ipv4/conf/eth0/proxy_arp.", nameof(key));
        }

        return "/proc/sys/" + relative;
    }
}
