using System.Text;
using Moat.Fuzz.Engine;
using Moat.Monitor.Identify;
using Moat.Monitor.Packages;

namespace Moat.Fuzz.Targets;

/// <summary>What the exec monitor reads from a tenant's files: ELF headers and the image's package databases.</summary>
internal static class MonitorTargets
{
    public static FuzzTarget Elf() => new()
    {
        Name = "elf",
        Parser = "ElfBuildId.Inspect",
        MaxLength = 16 * 1024,
        Seeds = () => HostBinaries(),
        Run = input => _ = ElfBuildId.TryRead(input),
    };

    /// <summary>The same text as dpkg's status file and apk's installed database, then every version compared.</summary>
    public static FuzzTarget Packages()
    {
        string? root = null;
        return new FuzzTarget
        {
            Name = "packages",
            Parser = "PackageIndex.Load (dpkg status, apk installed) + DebianVersion.TryParse + ApkVersion.Compare",
            MaxLength = 16 * 1024,
            Seeds = () => [SeedFiles.Utf8(DpkgStatus), SeedFiles.Utf8(ApkInstalled), SeedFiles.Utf8(DpkgStatus + "\n" + ApkInstalled)],
            Dictionary = SeedFiles.Tokens("Package: ", "Version: ", "Status: install ok installed", "P:", "V:", "F:", "R:", "\n\n", "\n ", ":", "-r", "_", "~", "1:", "99999999999999999999", "-", "."),
            Setup = () =>
            {
                root = Directory.CreateTempSubdirectory("moat-fuzz-packages-").FullName;
                Directory.CreateDirectory(Path.Combine(root, "var/lib/dpkg/info"));
                Directory.CreateDirectory(Path.Combine(root, "lib/apk/db"));
                File.WriteAllText(Path.Combine(root, "var/lib/dpkg/info/busybox.list"), "/\n/bin\n/bin/busybox\n");
            },
            Teardown = () => Directory.Delete(root!, recursive: true),
            Expected = e => e is FormatException,
            Run = input =>
            {
                File.WriteAllBytes(Path.Combine(root!, "var/lib/dpkg/status"), input);
                File.WriteAllBytes(Path.Combine(root!, "lib/apk/db/installed"), input);
                var index = PackageIndex.Load(root!);
                foreach (var p in index.Packages)
                {
                    if (p.Ecosystem == "Debian")
                    {
                        _ = DebianVersion.TryParse(p.Version, out _);
                    }
                    else
                    {
                        _ = ApkVersion.Compare(p.Version, "1.36.1-r2");
                    }
                }

                string text = Encoding.UTF8.GetString(input);
                foreach (var stanza in PackageIndex.Stanzas(text))
                {
                    if (stanza.TryGetValue("Version", out string? version) && DebianVersion.TryParse(version, out var parsed))
                    {
                        _ = parsed!.CompareTo(DebianVersion.Parse("1:2.36-9+deb12u4"));
                    }
                }
            },
        };
    }

    private static IReadOnlyList<byte[]> HostBinaries()
    {
        var seeds = new List<byte[]>();
        foreach (string path in new[] { "/bin/ls", "/usr/bin/env", "/bin/sh", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libz.so.1" })
        {
            if (File.Exists(path))
            {
                using var file = File.OpenRead(path);
                byte[] head = new byte[16 * 1024];
                int read = file.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
                seeds.Add(head[..read]);
            }
        }

        return seeds.Count > 0 ? seeds : [MinimalElf()];
    }

    /// <summary>An ELF64 header with one PT_NOTE holding a GNU build-id, for hosts without binaries at the usual paths.</summary>
    private static byte[] MinimalElf()
    {
        byte[] elf = new byte[64 + 56 + 32];
        "\u007fELF"u8.CopyTo(elf);
        elf[4] = 2;
        elf[5] = 1;
        elf[6] = 1;
        elf[0x20] = 64;
        elf[0x36] = 56;
        elf[0x38] = 1;
        elf[64] = 4;
        elf[64 + 8] = 120;
        elf[64 + 32] = 32;
        elf[120] = 4;
        elf[124] = 16;
        elf[128] = 3;
        "GNU\0"u8.CopyTo(elf.AsSpan(132));
        return elf;
    }

    private const string DpkgStatus = """
        Package: busybox
        Status: install ok installed
        Priority: optional
        Architecture: amd64
        Version: 1:1.35.0-4+b3
        Description: Tiny utilities
         for small and embedded systems.

        Package: libc6
        Status: install ok installed
        Architecture: amd64
        Version: 2.36-9+deb12u4
        Depends: libgcc-s1

        """;

    private const string ApkInstalled = """
        C:Q1abc=
        P:busybox
        V:1.36.1-r2
        F:bin
        R:busybox
        F:etc
        R:passwd

        P:musl
        V:1.2.4_git20230717-r4
        F:lib
        R:ld-musl-x86_64.so.1

        """;
}
