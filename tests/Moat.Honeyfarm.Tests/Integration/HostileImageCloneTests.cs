using Moat.Honeyfarm.Clones;
using Moat.Linux.Namespaces;

namespace Moat.Honeyfarm.Tests.Integration;

/// <summary>
/// A reference image is outside input (a personality may be backed by an imported image): the identity and service
/// files a clone gets are written beneath its root, never through a symbolic link the image holds.
/// </summary>
[Trait("Category", "Integration")]
[Trait("Category", "Hostile")]
public sealed class HostileImageCloneTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "moat-hf-hostile-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        NetworkNamespace.Delete(Path.GetFileName(_dir));
        Directory.Delete(_dir, recursive: true);
    }

    [Theory]
    [InlineData("etc")]           // the whole folder is a link to a host folder
    [InlineData("etc/hostname")]  // one file is a link to a host file
    [InlineData(".honeyfarm")]    // the services folder is a link to a host folder
    public async Task An_image_whose_setup_path_is_a_link_to_the_host_starts_no_clone_and_writes_nothing_there(string link)
    {
        var outside = Directory.CreateDirectory(Path.Combine(_dir, "outside")).FullName;
        var victim = Path.Combine(outside, "hostname");
        File.WriteAllText(victim, "host's own\n");
        var image = Directory.CreateDirectory(Path.Combine(_dir, "image")).FullName;
        Directory.CreateDirectory(Path.Combine(image, "bin"));
        File.WriteAllText(Path.Combine(image, "bin", "sh"), ""); // what the options check for; the clone never runs
        if (link == "etc")
        {
            File.CreateSymbolicLink(Path.Combine(image, "etc"), outside);
        }
        else
        {
            Directory.CreateDirectory(Path.Combine(image, "etc"));
            File.CreateSymbolicLink(Path.Combine(image, link), link == "etc/hostname" ? victim : outside);
        }

        var factory = ContainerServices.Factory(new ContainerCloneOptions
        {
            ImageRootfs = image,
            StateDir = Path.Combine(_dir, "farm"),
            InitBinary = Path.Combine(AppContext.BaseDirectory, "moat-init"),
        });
        using var ns = NetworkNamespace.Create(Path.GetFileName(_dir));
        var identity = CloneIdentity.Create(new Random(7));

        await Assert.ThrowsAnyAsync<Exception>(() => factory(ns, "hostile-clone", new Personality("p", [23], [], "banner"), identity, () => "describe", CancellationToken.None));

        // The host's file and folder are as they were, and the failed clone left no mount behind.
        Assert.Equal("host's own\n", File.ReadAllText(victim));
        Assert.Equal(["hostname"], Directory.GetFileSystemEntries(outside).Select(Path.GetFileName));
        Assert.DoesNotContain(Path.Combine(_dir, "farm"), File.ReadAllText("/proc/self/mountinfo"));
    }
}
