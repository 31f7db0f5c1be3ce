using System.Runtime.Versioning;

namespace Moat.Linux.Namespaces;

/// <summary>
/// A named network namespace, kept alive by a bind mount at /run/netns/NAME exactly as `ip netns add` makes
/// it, so `ip netns`, runc and crun (linux.namespaces[network].path) see it; this object holds an open descriptor.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class NetworkNamespace : IDisposable
{
    /// <summary>Where iproute2 keeps named network namespaces.</summary>
    public const string RunDirectory = "/run/netns";

    private const int MaxNameBytes = 255;
    private static readonly Lock RunDirectoryLock = new();
    private static bool s_runDirectoryReady;

    private NetworkNamespace(string name, string path, SafeFileDescriptor handle)
    {
        Name = name;
        Path = path;
        Handle = handle;
    }

    /// <summary>The name under /run/netns, or the path itself for a namespace opened by path.</summary>
    public string Name { get; }

    /// <summary>The file that stands for the namespace, e.g. /run/netns/NAME.</summary>
    public string Path { get; }

    internal SafeFileDescriptor Handle { get; }

    /// <summary>Creates the namespace NAME; throws <see cref="LinuxException"/> with EEXIST if it already exists.</summary>
    public static NetworkNamespace Create(string name) => Create(name, static () => true, out _);

    /// <summary>
    /// Creates the namespace NAME and runs <paramref name="initialise"/> on the thread that made it, while that
    /// thread is still inside it (e.g. to open a netlink socket there without another thread hop).
    /// </summary>
    internal static NetworkNamespace Create<T>(string name, Func<T> initialise, out T result)
    {
        var path = PathOf(name);
        EnsureRunDirectory();
        using (new SafeFileDescriptor(Interop.Check(
            Interop.Open(path, Interop.O_RDONLY | Interop.O_CREAT | Interop.O_EXCL | Interop.O_CLOEXEC, 0), $"create network namespace file {path}")))
        {
        }

        SafeFileDescriptor? handle = null;
        try
        {
            (handle, result) = NamespaceRunner.OnFreshThread(() =>
            {
                Interop.Check(Interop.Unshare(Interop.CLONE_NEWNET), "unshare(CLONE_NEWNET)");
                // /proc/self/ns/net would name the main thread's namespace: this thread alone moved.
                Interop.Check(Interop.Mount("/proc/thread-self/ns/net", path, "none", Interop.MS_BIND, null), $"bind mount network namespace onto {path}");
                var opened = Interop.OpenReadOnly(path);
                try
                {
                    return (opened, initialise());
                }
                catch
                {
                    opened.Dispose();
                    throw;
                }
            });
            return new NetworkNamespace(name, path, handle);
        }
        catch
        {
            handle?.Dispose();
            Interop.Umount2(path, Interop.MNT_DETACH);
            Interop.Unlink(path);
            throw;
        }
    }

    /// <summary>
    /// Gives the name NAME to the network namespace process <paramref name="processId"/> is in, like
    /// `ip netns attach NAME PID`: e.g. to restore the name of a sandbox's namespace that lost it while the
    /// sandbox kept running. Throws <see cref="LinuxException"/> with EEXIST if the name is taken.
    /// </summary>
    public static NetworkNamespace Attach(string name, int processId)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(processId);
        var path = PathOf(name);
        EnsureRunDirectory();
        using (new SafeFileDescriptor(Interop.Check(
            Interop.Open(path, Interop.O_RDONLY | Interop.O_CREAT | Interop.O_EXCL | Interop.O_CLOEXEC, 0), $"create network namespace file {path}")))
        {
        }

        try
        {
            var source = $"/proc/{processId}/ns/net";
            Interop.Check(Interop.Mount(source, path, "none", Interop.MS_BIND, null), $"bind mount {source} onto {path}");
            return new NetworkNamespace(name, path, Interop.OpenReadOnly(path));
        }
        catch
        {
            Interop.Umount2(path, Interop.MNT_DETACH);
            Interop.Unlink(path);
            throw;
        }
    }

    /// <summary>Opens the existing namespace NAME; throws <see cref="LinuxException"/> with ENOENT if there is none.</summary>
    public static NetworkNamespace Open(string name)
    {
        var path = PathOf(name);
        return new NetworkNamespace(name, path, Interop.OpenReadOnly(path));
    }

    /// <summary>Opens a namespace by any file that stands for one, e.g. /proc/PID/ns/net.</summary>
    public static NetworkNamespace OpenPath(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return new NetworkNamespace(path, path, Interop.OpenReadOnly(path));
    }

    /// <summary>The calling thread's current namespace (the host's, for a thread that never moved).</summary>
    public static NetworkNamespace OpenCurrent() => OpenPath("/proc/thread-self/ns/net");

    /// <summary>Wraps a descriptor of a namespace (e.g. from SIOCGSKNS); the new object owns it.</summary>
    internal static NetworkNamespace FromDescriptor(SafeFileDescriptor handle, string description) => new(description, description, handle);

    /// <summary>Removes the name NAME (unmount + unlink, like `ip netns del`); false when there was nothing to remove.</summary>
    /// <remarks>The kernel destroys the namespace, and any veth still inside it, later and asynchronously.</remarks>
    public static bool Delete(string name)
    {
        var path = PathOf(name);
        var unmounted = Interop.Umount2(path, Interop.MNT_DETACH) == 0;
        if (!unmounted && Interop.LastErrno is not (Errno.EINVAL or Errno.ENOENT))
        {
            throw new LinuxException(Interop.LastErrno, $"unmount network namespace {path}");
        }

        if (Interop.Unlink(path) == 0)
        {
            return true;
        }

        return Interop.LastErrno == Errno.ENOENT ? unmounted : throw new LinuxException(Interop.LastErrno, $"unlink {path}");
    }

    public static bool Exists(string name) => File.Exists(PathOf(name));

    /// <summary>The names under /run/netns, sorted.</summary>
    public static IReadOnlyList<string> List()
    {
        if (!Directory.Exists(RunDirectory))
        {
            return [];
        }

        var names = Directory.GetFiles(RunDirectory).Select(System.IO.Path.GetFileName).OfType<string>().ToList();
        names.Sort(StringComparer.Ordinal);
        return names;
    }

    public void Dispose() => Handle.Dispose();

    public override string ToString() => Path;

    internal static string PathOf(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0 || System.Text.Encoding.UTF8.GetByteCount(name) > MaxNameBytes || name is "." or ".." || name.Contains('/') || name.Contains('\0'))
        {
            throw new ArgumentException($"Network namespace name '{name}' is not valid: use 1 to {MaxNameBytes} bytes without '/', and not '.' or '..'.", nameof(name));
        }

        return $"{RunDirectory}/{name}";
    }

    /// <summary>
    /// Makes /run/netns a shared mount point, as iproute2 does, so that a namespace mounted there later shows
    /// up in mount namespaces (containers, `ip netns exec`) that were copied from this one.
    /// </summary>
    private static void EnsureRunDirectory()
    {
        lock (RunDirectoryLock)
        {
            if (s_runDirectoryReady)
            {
                return;
            }

            if (Interop.MkDir(RunDirectory, Convert.ToInt32("755", 8)) != 0 && Interop.LastErrno != Errno.EEXIST)
            {
                throw new LinuxException(Interop.LastErrno, $"mkdir {RunDirectory}");
            }

            var boundOntoItself = false;
            while (Interop.Mount("", RunDirectory, "none", Interop.MS_SHARED | Interop.MS_REC, null) != 0)
            {
                // EINVAL: not a mount point yet; bind it onto itself once and try again.
                if (Interop.LastErrno != Errno.EINVAL || boundOntoItself)
                {
                    throw new LinuxException(Interop.LastErrno, $"make {RunDirectory} a shared mount point");
                }

                Interop.Check(Interop.Mount(RunDirectory, RunDirectory, "none", Interop.MS_BIND | Interop.MS_REC, null), $"bind mount {RunDirectory} onto itself");
                boundOntoItself = true;
            }

            s_runDirectoryReady = true;
        }
    }
}
