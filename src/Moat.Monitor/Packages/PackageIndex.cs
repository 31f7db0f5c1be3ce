using System.Runtime.Versioning;
using System.Text;
using Moat.Linux;
using Moat.Linux.Files;

namespace Moat.Monitor.Packages;

/// <summary>
/// Which package owns each path of an image, read from the image's own package database
/// (dpkg: var/lib/dpkg/status and var/lib/dpkg/info/*.list; apk: lib/apk/db/installed).
/// </summary>
/// <remarks>
/// The database is written by whoever built the image, so every path is resolved inside the image (an absolute
/// symlink, a "..", a package named "../../x" stay in it), only regular files are read, and each file and the whole
/// database are bounded: what does not fit is left out and named in <see cref="Problems"/>.
/// </remarks>
public sealed class PackageIndex
{
    /// <summary>The most bytes one package database file may hold (Debian's status is a few MiB).</summary>
    public const long MaxDatabaseBytes = 64L << 20;

    /// <summary>The most bytes all of an image's package database files together may hold.</summary>
    public const long MaxTotalBytes = 256L << 20;

    private readonly Dictionary<string, InstalledPackage> _owners;

    private PackageIndex(Dictionary<string, InstalledPackage> owners, IReadOnlyList<InstalledPackage> packages, IReadOnlyList<string> problems)
    {
        _owners = owners;
        Packages = packages;
        Problems = problems;
    }

    public static PackageIndex Empty { get; } = new([], [], []);

    public IReadOnlyList<InstalledPackage> Packages { get; }

    /// <summary>One sentence per database file that was left out (too large, unreadable).</summary>
    public IReadOnlyList<string> Problems { get; }

    /// <summary>Reads whichever package databases exist under an image root; an image without one gives an empty index.</summary>
    [SupportedOSPlatform("linux")]
    public static PackageIndex Load(string imageRoot)
    {
        var owners = new Dictionary<string, InstalledPackage>(StringComparer.Ordinal);
        var packages = new List<InstalledPackage>();
        var database = new Database(imageRoot);
        using (database.Root)
        {
            if (database.Read("/var/lib/dpkg/status") is { } status)
            {
                LoadDpkg(database, status, owners, packages);
            }

            if (database.Read("/lib/apk/db/installed") is { } installed)
            {
                LoadApk(installed, owners, packages);
            }
        }

        return new PackageIndex(owners, packages, database.Problems);
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

    [SupportedOSPlatform("linux")]
    private static void LoadDpkg(Database database, string status, Dictionary<string, InstalledPackage> owners, List<InstalledPackage> packages)
    {
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
                // A package name is one file name in info/; one with a '/' in it names no list dpkg would write.
                if (list.Contains('/', StringComparison.Ordinal) || database.Read("/var/lib/dpkg/info/" + list) is not { } listed)
                {
                    continue;
                }

                foreach (string path in listed.Split('\n'))
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

    /// <summary>An image's package database files, read inside the image and within <see cref="MaxTotalBytes"/>.</summary>
    [SupportedOSPlatform("linux")]
    private sealed class Database(string imageRoot)
    {
        private long _read;

        public RootedReader Root { get; } = RootedReader.Open(imageRoot);

        public List<string> Problems { get; } = [];

        public string? Read(string path)
        {
            if (_read >= MaxTotalBytes)
            {
                return null;
            }

            try
            {
                string? text = Root.TryReadText(path, Math.Min(MaxDatabaseBytes, MaxTotalBytes - _read));
                _read += text?.Length ?? 0;
                return text;
            }
            catch (LinuxException e)
            {
                Problems.Add($"the image's package database file {path} was left out of the inventory: {e.Message}");
                return null;
            }
        }
    }
}
