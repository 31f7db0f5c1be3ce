using Moat.Linux.Namespaces;

namespace Moat.Linux.Tests.Integration;

[Trait("Category", "Integration")]
public sealed class NetworkNamespaceTests
{
    [Fact]
    public void Create_MakesANamespaceThatIpNetnsListsAndDelete_RemovesIt()
    {
        var name = TestNames.Unique("ns");
        try
        {
            using (var ns = NetworkNamespace.Create(name))
            {
                Assert.Equal($"/run/netns/{name}", ns.Path);
                Assert.Contains(name, Tool.NetnsNames());
                Assert.Contains(name, NetworkNamespace.List());

                // A namespace of its own: only a loopback, down, and `ip netns exec` can enter it.
                var links = Tool.Links(name);
                Assert.Equal(["lo"], links.Keys);
                Assert.DoesNotContain("UP", links["lo"].GetProperty("flags").EnumerateArray().Select(f => f.GetString()));
            }

            Assert.True(NetworkNamespace.Delete(name));
            Assert.DoesNotContain(name, Tool.NetnsNames());
            Assert.False(File.Exists($"/run/netns/{name}"));
        }
        finally
        {
            NetworkNamespace.Delete(name);
        }
    }

    [Fact]
    public void Create_DifferentNamespaceFromTheHost()
    {
        var name = TestNames.Unique("ns");
        try
        {
            using var ns = NetworkNamespace.Create(name);
            var hostIno = new FileInfo("/proc/thread-self/ns/net").LinkTarget;
            var insideIno = NamespaceRunner.Run(ns, () => new FileInfo("/proc/thread-self/ns/net").LinkTarget);
            Assert.NotNull(hostIno);
            Assert.NotEqual(hostIno, insideIno);
            Assert.Equal(insideIno, Tool.MustRun("ip", "netns", "exec", name, "readlink", "/proc/self/ns/net").Trim());
        }
        finally
        {
            NetworkNamespace.Delete(name);
        }
    }

    [Fact]
    public void Create_ExistingName_ThrowsEexistAndLeavesTheFirstIntact()
    {
        var name = TestNames.Unique("ns");
        try
        {
            using var first = NetworkNamespace.Create(name);
            var error = Assert.Throws<LinuxException>(() => NetworkNamespace.Create(name));
            Assert.Equal(Errno.EEXIST, error.Errno);
            Assert.Contains(name, Tool.NetnsNames());
            Assert.Equal(["lo"], Tool.Links(name).Keys);
        }
        finally
        {
            NetworkNamespace.Delete(name);
        }
    }

    [Fact]
    public void Attach_NamesTheNamespaceOfARunningProcess()
    {
        var first = TestNames.Unique("ns");
        var second = TestNames.Unique("ns");
        using var sleeper = new System.Diagnostics.Process
        {
            StartInfo = new("ip", ["netns", "exec", first, "sh", "-c", "echo ready; exec sleep 30"]) { RedirectStandardOutput = true },
        };
        try
        {
            using var original = NetworkNamespace.Create(first);
            sleeper.Start();
            // The shell is inside `first` when it speaks; exec keeps the same process (and pid) for sleep.
            Assert.Equal("ready", sleeper.StandardOutput.ReadLine());
            var pid = sleeper.Id;
            var expected = Tool.MustRun("ip", "netns", "exec", first, "readlink", "/proc/self/ns/net").Trim();
            NetworkNamespace.Delete(first);

            using var attached = NetworkNamespace.Attach(second, pid);
            Assert.Contains(second, Tool.NetnsNames());
            Assert.Equal(expected, Tool.MustRun("ip", "netns", "exec", second, "readlink", "/proc/self/ns/net").Trim());
            Assert.Equal(Errno.EEXIST, Assert.Throws<LinuxException>(() => NetworkNamespace.Attach(second, pid)).Errno);
        }
        finally
        {
            if (!sleeper.HasExited)
            {
                sleeper.Kill();
            }

            NetworkNamespace.Delete(first);
            NetworkNamespace.Delete(second);
        }
    }

    [Fact]
    public void Delete_NameThatDoesNotExist_ReturnsFalse()
    {
        Assert.False(NetworkNamespace.Delete(TestNames.Unique("none")));
    }

    [Fact]
    public void Open_NameThatDoesNotExist_ThrowsEnoent()
    {
        var error = Assert.Throws<LinuxException>(() => NetworkNamespace.Open(TestNames.Unique("none")));
        Assert.Equal(Errno.ENOENT, error.Errno);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("..")]
    public void Create_InvalidName_ThrowsArgumentExceptionNamingIt(string name)
    {
        var error = Assert.Throws<ArgumentException>(() => NetworkNamespace.Create(name));
        Assert.Contains($"'{name}'", error.Message);
    }

    [Fact]
    public async Task RunAsync_RunsInsideTheNamespaceAndLeavesTheCallerWhereItWas()
    {
        var name = TestNames.Unique("ns");
        try
        {
            using var ns = NetworkNamespace.Create(name);
            var before = new FileInfo("/proc/thread-self/ns/net").LinkTarget;
            var inside = await NamespaceRunner.RunAsync(ns, () => new FileInfo("/proc/thread-self/ns/net").LinkTarget);
            Assert.Equal(Tool.MustRun("ip", "netns", "exec", name, "readlink", "/proc/self/ns/net").Trim(), inside);
            Assert.Equal(before, new FileInfo("/proc/thread-self/ns/net").LinkTarget);
        }
        finally
        {
            NetworkNamespace.Delete(name);
        }
    }

    [Fact]
    public async Task RunAsync_LeavesNoThreadOfTheProcessInsideTheNamespace()
    {
        // A thread is born in the namespaces of the thread that creates it; completing a task from inside the
        // namespace could make the pool start its next worker there. Every round gives the pool that chance.
        var name = TestNames.Unique("ns");
        try
        {
            using var ns = NetworkNamespace.Create(name);
            var inside = await NamespaceRunner.RunAsync(ns, () => new FileInfo("/proc/thread-self/ns/net").LinkTarget);
            // The pool starts a worker on the requesting thread while it has fewer threads than its goal; a high
            // minimum keeps that true for every round.
            ThreadPool.GetMinThreads(out var workers, out var ports);
            ThreadPool.SetMinThreads(Math.Max(workers, 200), ports);
            try
            {
                var rounds = Enumerable.Range(0, 64).Select(_ => NamespaceRunner.RunAsync(ns, () => Thread.SpinWait(1000)));
                await Task.WhenAll(rounds);
            }
            finally
            {
                ThreadPool.SetMinThreads(workers, ports);
            }

            var stranded = Directory.EnumerateDirectories("/proc/self/task")
                .Select(task => (task, ns: TryReadLink(Path.Combine(task, "ns", "net"))))
                .Where(t => t.ns == inside)
                .Select(t => Path.GetFileName(t.task))
                .ToList();
            Assert.Empty(stranded);
        }
        finally
        {
            NetworkNamespace.Delete(name);
        }

        static string? TryReadLink(string path)
        {
            try
            {
                return new FileInfo(path).LinkTarget;
            }
            catch (IOException)
            {
                return null; // the thread ended while we looked
            }
            catch (UnauthorizedAccessException)
            {
                return null;
            }
        }
    }

    [Fact]
    public void SysctlWrite_InsideNamespace_ChangesOnlyThatNamespace()
    {
        var name = TestNames.Unique("ns");
        try
        {
            using var ns = NetworkNamespace.Create(name);
            var hostValue = Sysctl.Read(null, "net.ipv4.ip_forward");
            var other = hostValue == "1" ? "0" : "1";
            Sysctl.Write(ns, "net.ipv4.ip_forward", other);
            Assert.Equal(other, Tool.MustRun("ip", "netns", "exec", name, "cat", "/proc/sys/net/ipv4/ip_forward").Trim());
            Assert.Equal(other, Sysctl.Read(ns, "net/ipv4/ip_forward"));
            Assert.Equal(hostValue, Sysctl.Read(null, "net.ipv4.ip_forward"));
        }
        finally
        {
            NetworkNamespace.Delete(name);
        }
    }
}
