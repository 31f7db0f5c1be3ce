using Moat.Host.Rootfs;
using Moat.Linux.Mounts;

namespace Moat.Host.Tests.Rootfs;

/// <summary>
/// Whether a sandbox's disk or overlay is mounted is asked at every create and destroy (issue 19): the answer must not
/// come from reading the mount table, which grows by three lines with every sandbox on the host.
/// </summary>
[Trait("Category", "Integration")]
public sealed class MountCheckTests
{
    [Fact]
    public void IsMounted_answers_without_reading_the_mount_table_however_many_mounts_there_are()
    {
        var dir = Path.Combine(Path.GetTempPath(), "moat-mnt-" + Guid.NewGuid().ToString("N")[..8]);
        var targets = Enumerable.Range(0, 40).Select(i => Path.Combine(dir, "m" + i)).ToList();
        var mounted = new List<string>();
        try
        {
            foreach (var t in targets)
            {
                Directory.CreateDirectory(t);
            }

            Directory.CreateDirectory(Path.Combine(dir, "plain"));
            File.CreateSymbolicLink(Path.Combine(dir, "link"), targets[0]);
            var reads = MountTable.TableReads;
            var asked = 0;
            foreach (var t in targets)
            {
                Assert.False(OverlayRootfs.IsMounted(t));
                MountTable.MountTmpfs(t, 1 << 20);
                mounted.Add(t);
                // Every mount so far still answers true, the folders beside them false: 2 + n questions per mount.
                foreach (var m in mounted)
                {
                    Assert.True(OverlayRootfs.IsMounted(m));
                    asked++;
                }

                Assert.False(OverlayRootfs.IsMounted(Path.Combine(dir, "plain")));
                Assert.False(OverlayRootfs.IsMounted(Path.Combine(t, "missing")));
            }

            // A symbolic link to a mount point is not itself one (it is not followed), nor is the folder above.
            Assert.False(OverlayRootfs.IsMounted(Path.Combine(dir, "link")));
            Assert.False(OverlayRootfs.IsMounted(dir));
            Assert.Equal(40 * 41 / 2, asked);
            Assert.Equal(reads, MountTable.TableReads);
        }
        finally
        {
            foreach (var m in mounted)
            {
                MountTable.Unmount(m, detach: true);
            }

            Directory.Delete(dir, recursive: true);
        }
    }
}
