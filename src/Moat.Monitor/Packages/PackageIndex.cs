using System.Text;

namespace Moat.Monitor.Packages;

/// <summary>
/// Which package owns each path of an image, read from the image's own package database
/// (dpkg: var/lib/dpkg/status and var/lib/dpkg/info/*.list; apk: lib/apk/db/installed).
/// </summary>
public sealed class PackageIndex
{
    private readonly Dictionary<string, InstalledPackage> _owners;

    private PackageIndex(Dictionary<string, InstalledPackage> owners, IReadOnlyList<InstalledPackage> packages)
    {
        _owners = owners;
        Packages = packages;
    }

    public static PackageIndex Empty { get; } = new([], []);

    public IReadOnlyList<InstalledPackage> Packages { get; }

    /// <summary>Reads whichever package databases exist under an image root; an image without one gives an empty index.</summary>
    public static PackageIndex Load(string imageRoot)
    {
        var owners = new Dictionary<string, InstalledPackage>(StringComparer.Ordinal);
        var packages = new List<InstalledPackage>();
        string dpkgStatus = Path.Combine(imageRoot, "var/lib/dpkg/status");
        if (File.Exists(dpkgStatus))
        {
            LoadDpkg(imageRoot, File.ReadAllText(dpkgStatus), owners, packages);
        }

        string apkInstalled = Path.Combine(imageRoot, "lib/apk/db/installed");
        if (File.Exists(apkInstalled))
        {
            LoadApk(File.ReadAllText(apkInstalled), owners, packages);
        }

        return new PackageIndex(owners, packages);
    }

    /// <summary>The package owning a path inside the image, trying the merged-/usr twin (/bin ↔ /usr/bin) too.</summary>
    public InstalledPackage? Owner(string path)
    {
        if (_owners.TryGetValue(path, out var owner))
        {
            return owner;
        }

        string? twin = path.StartsWith("/usr/", StringComparison.Ordinal) ? path[4..]
            : path.StartsWith("/bin/", StringComparison.Ordinal) || path.StartsWith("/sbin/", StringComparison.Ordinal)
              || path.StartsWith("/lib", StringComparison.Ordinal) ? "/usr" + path
            : null;
        return twin is not null && _owners.TryGetValue(twin, out owner) ? owner : null;
    }

    internal static IEnumerable<Dictionary<string, string>> Stanzas(string text)
    {
        var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        string? last = null;

        // Continuation lines are gathered here and joined once: appending each to the field's string would copy the
        // whole value per line, quadratic in a (tenant-written) field of many lines.
        var continued = new StringBuilder();
        void Close()
        {
            if (last is not null && continued.Length > 0)
            {
                fields[last] += continued.ToString();
            }

            continued.Clear();
        }

        foreach (string raw in text.Split('\n'))
        {
            string line = raw.TrimEnd('\r');
            if (line.Length == 0)
            {
                Close();
                if (fields.Count > 0)
                {
                    yield return fields;
                    fields = new(StringComparer.OrdinalIgnoreCase);
                }

                last = null;
                continue;
            }

            if ((line[0] == ' ' || line[0] == '\t') && last is not null)
            {
                continued.Append('\n').Append(line.AsSpan().Trim());
                continue;
            }

            int colon = line.IndexOf(':');
            if (colon <= 0)
            {
                continue;
            }

            Close();
            last = line[..colon];
            fields[last] = line[(colon + 1)..].Trim();
        }

        Close();
        if (fields.Count > 0)
        {
            yield return fields;
        }
    }

    private static void LoadDpkg(string imageRoot, string status, Dictionary<string, InstalledPackage> owners, List<InstalledPackage> packages)
    {
        string infoDir = Path.Combine(imageRoot, "var/lib/dpkg/info");
        foreach (var stanza in Stanzas(status))
        {
            if (!stanza.TryGetValue("Package", out string? name) || !stanza.TryGetValue("Version", out string? version)
                || !stanza.TryGetValue("Status", out string? state) || !state.EndsWith(" installed", StringComparison.Ordinal))
            {
                continue;
            }

            var package = new InstalledPackage("Debian", name, version);
            packages.Add(package);
            string? arch = stanza.GetValueOrDefault("Architecture");
            foreach (string list in new[] { $"{name}.list", $"{name}:{arch}.list" })
            {
                string listPath = Path.Combine(infoDir, list);
                if (!File.Exists(listPath))
                {
                    continue;
                }

                foreach (string path in File.ReadLines(listPath))
                {
                    if (path.Length > 1)
                    {
                        owners.TryAdd(path, package);
                    }
                }
            }
        }
    }

    private static void LoadApk(string installed, Dictionary<string, InstalledPackage> owners, List<InstalledPackage> packages)
    {
        // apk's database repeats keys (F: folder, R: file in it) inside one stanza, so it is read line by line.
        string? version = null;
        string? name = null;
        string folder = "";
        var pendingFiles = new List<string>();
        void Flush()
        {
            if (name is not null && version is not null)
            {
                var current = new InstalledPackage("Alpine", name, version);
                packages.Add(current);
                foreach (string file in pendingFiles)
                {
                    owners.TryAdd(file, current);
                }
            }

            version = null;
            name = null;
            folder = "";
            pendingFiles.Clear();
        }

        foreach (string raw in installed.Split('\n'))
        {
            string line = raw.TrimEnd('\r');
            if (line.Length == 0)
            {
                Flush();
                continue;
            }

            if (line.Length < 2 || line[1] != ':')
            {
                continue;
            }

            string value = line[2..];
            switch (line[0])
            {
                case 'P':
                    name = value;
                    break;
                case 'V':
                    version = value;
                    break;
                case 'F':
                    folder = value;
                    break;
                case 'R':
                    pendingFiles.Add("/" + (folder.Length > 0 ? folder + "/" : "") + value);
                    break;
                default:
                    break;
            }
        }

        Flush();
    }
}
