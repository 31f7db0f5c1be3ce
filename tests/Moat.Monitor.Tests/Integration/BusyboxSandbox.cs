using System.Diagnostics;
using System.Text.Json;

namespace Moat.Monitor.Tests.Integration;

/// <summary>
/// A real sandbox for tests: a busybox image dir, an overlay root (its own file system, as in production)
/// on a private tmpfs, run by runc in fresh pid/mount/ipc/uts/net namespaces and cgroup /moat/mtm-&lt;guid&gt;.
/// Everything is torn down by <see cref="DisposeAsync"/>, whatever state the test left it in.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal sealed class BusyboxSandbox : IAsyncDisposable
{
    private bool _tmpfsMounted;
    private bool _overlayMounted;
    private bool _started;

    private BusyboxSandbox(string id, string baseDir)
    {
        Id = id;
        BaseDir = baseDir;
    }

    public string Id { get; }

    public string BaseDir { get; }

    public string ImageDir => Path.Combine(BaseDir, "image");

    public string RootFs => Path.Combine(BaseDir, "bundle", "rootfs");

    public string Bundle => Path.Combine(BaseDir, "bundle");

    public static string BusyboxSha256 { get; } = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes("/bin/busybox")));

    public static async Task<BusyboxSandbox> CreateAsync()
    {
        string id = "mtm-" + Guid.NewGuid().ToString("N")[..12];
        var sandbox = new BusyboxSandbox(id, Path.Combine(Path.GetTempPath(), id));
        try
        {
            Directory.CreateDirectory(sandbox.BaseDir);
            await RunAsync("mount", "-t", "tmpfs", "-o", "size=256m", id, sandbox.BaseDir);
            sandbox._tmpfsMounted = true;
            sandbox.BuildImage();
            foreach (string dir in new[] { "upper", "work", "bundle/rootfs" })
            {
                Directory.CreateDirectory(Path.Combine(sandbox.BaseDir, dir));
            }

            await RunAsync("mount", "-t", "overlay", "-o",
                $"lowerdir={sandbox.ImageDir},upperdir={sandbox.BaseDir}/upper,workdir={sandbox.BaseDir}/work", id + "-ovl", sandbox.RootFs);
            sandbox._overlayMounted = true;
            return sandbox;
        }
        catch
        {
            await sandbox.DisposeAsync();
            throw;
        }
    }

    private void BuildImage()
    {
        foreach (string dir in new[] { "bin", "usr/bin", "usr/local/bin", "tmp", "proc", "dev", "etc", "var/lib/dpkg/info" })
        {
            Directory.CreateDirectory(Path.Combine(ImageDir, dir));
        }

        File.Copy("/bin/busybox", Path.Combine(ImageDir, "bin/busybox"));
        foreach (string applet in new[] { "sh", "true", "sleep", "cp", "rm", "mkdir", "touch", "cat", "echo", "printf", "chmod" })
        {
            File.CreateSymbolicLink(Path.Combine(ImageDir, "bin", applet), "busybox");
        }

        // A package database like a Debian image's, so that package attribution is exercised end to end.
        File.WriteAllText(Path.Combine(ImageDir, "var/lib/dpkg/status"),
            "Package: busybox-static\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.35.0-4+deb12u1+b1\nDescription: test\n\n");
        File.WriteAllText(Path.Combine(ImageDir, "var/lib/dpkg/info/busybox-static.list"), "/.\n/bin\n/bin/busybox\n");
        File.SetUnixFileMode(Path.Combine(ImageDir, "tmp"), (UnixFileMode)0x3FF);
    }

    /// <summary>Starts the sandbox's init process (detached) running a shell script.</summary>
    public async Task StartAsync(string script)
    {
        var config = new
        {
            ociVersion = "1.0.2",
            process = new
            {
                terminal = false,
                user = new { uid = 0, gid = 0 },
                args = new[] { "/bin/sh", "-c", script },
                env = new[] { "PATH=/usr/local/bin:/bin:/usr/bin" },
                cwd = "/",
                noNewPrivileges = true,
            },
            root = new { path = "rootfs", @readonly = false },
            hostname = Id,
            mounts = new object[]
            {
                new { destination = "/proc", type = "proc", source = "proc" },
                new { destination = "/dev", type = "tmpfs", source = "tmpfs", options = new[] { "nosuid", "strictatime", "mode=755", "size=65536k" } },
            },
            linux = new
            {
                cgroupsPath = "/moat/" + Id,
                namespaces = new object[] { new { type = "pid" }, new { type = "mount" }, new { type = "ipc" }, new { type = "uts" }, new { type = "network" } },
            },
        };
        await File.WriteAllTextAsync(Path.Combine(Bundle, "config.json"), JsonSerializer.Serialize(config));
        _started = true;
        await RunAsync("runc", "run", "-d", "--bundle", Bundle, Id);
    }

    /// <summary>Waits until the script creates a file (its way of saying it reached a point), bounded by a timeout.</summary>
    public async Task WaitForFileAsync(string insidePath, TimeSpan timeout)
    {
        string hostPath = RootFs + insidePath;
        using var cts = new CancellationTokenSource(timeout);
        while (!File.Exists(hostPath))
        {
            await Task.Delay(20, cts.Token);
        }
    }

    /// <summary>The host pid of the sandbox's init process, as runc reports it.</summary>
    public async Task<int> InitPidAsync()
    {
        var psi = new ProcessStartInfo("runc", ["state", Id]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(psi)!;
        string state = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return JsonDocument.Parse(state).RootElement.GetProperty("pid").GetInt32();
    }

    /// <summary>Waits until a process is gone from /proc (exited and reaped, so nothing of it can be read any more).</summary>
    public static async Task WaitUntilReapedAsync(int pid, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (Directory.Exists($"/proc/{pid}"))
        {
            await Task.Delay(20, cts.Token);
        }
    }

    public static async Task<string> RunAsync(params string[] args)
    {
        var psi = new ProcessStartInfo(args[0]) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (string a in args.Skip(1))
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi)!;
        process.StandardInput.Close();
        // runc run -d leaves the container holding inherited pipes, so only wait for the exit, not for EOF.
        var stderrTask = process.StandardError.ReadLineAsync();
        await process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{string.Join(' ', args)} exited with {process.ExitCode}: {await stderrTask.WaitAsync(TimeSpan.FromSeconds(1))}");
        }

        return "";
    }

    public async ValueTask DisposeAsync()
    {
        var errors = new List<Exception>();
        async Task Try(params string[] args)
        {
            try
            {
                await RunAsync(args);
            }
            catch (Exception ex)
            {
                errors.Add(ex);
            }
        }

        if (_started)
        {
            await Try("runc", "delete", "--force", Id);
        }

        if (_overlayMounted)
        {
            await Try("umount", "-l", RootFs);
        }

        if (_tmpfsMounted)
        {
            await Try("umount", "-l", BaseDir);
        }

        try
        {
            Directory.Delete(BaseDir, recursive: true);
        }
        catch (IOException ex)
        {
            errors.Add(ex);
        }

        if (errors.Count > 0)
        {
            throw new AggregateException($"Cleaning up sandbox {Id} failed.", errors);
        }
    }
}
