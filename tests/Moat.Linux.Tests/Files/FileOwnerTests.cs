using System.Globalization;
using Moat.Linux.Files;

namespace Moat.Linux.Tests.Files;

/// <summary>statx of a host path, from the working directory (AT_FDCWD). Needs no root.</summary>
public sealed class FileOwnerTests
{
    [Fact]
    public void Of_a_new_file_is_this_process_and_of_a_missing_one_is_ENOENT()
    {
        string path = Path.GetTempFileName();
        try
        {
            Assert.Equal((Effective("Uid:"), Effective("Gid:")), FileOwner.Of(path));
            var missing = Assert.Throws<LinuxException>(() => FileOwner.Of(path + ".missing"));
            Assert.Equal(Errno.ENOENT, missing.Errno);
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>The effective id from /proc/self/status ("Uid:\treal\teffective\tsaved\tfs").</summary>
    private static uint Effective(string field) =>
        uint.Parse(File.ReadLines("/proc/self/status").First(l => l.StartsWith(field, StringComparison.Ordinal)).Split('\t')[2], CultureInfo.InvariantCulture);
}
