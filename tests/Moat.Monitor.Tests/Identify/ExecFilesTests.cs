using Moat.Monitor.Identify;

namespace Moat.Monitor.Tests.Identify;

/// <summary>
/// Pairing the files a process opened for execution with its exec events, whatever the monitor has already read of
/// the later ones: each exec takes its own group and never a later exec's file.
/// </summary>
public sealed class ExecFilesTests
{
    private static FileFingerprint File(ulong inode, bool loadsInterpreter = false) =>
        new(42, inode, Unlinked: false, Sha256: inode.ToString("x64"), BuildId: null, loadsInterpreter);

    private static ulong[] Inodes(IReadOnlyList<(FileFingerprint Print, string? Path)> group) => group.Select(f => f.Print.Inode).ToArray();

    [Fact]
    public void An_exec_read_after_the_next_exec_s_file_was_queued_takes_only_its_own_file()
    {
        // sh (static busybox) execs a dropped binary; both files are queued before the monitor pairs sh's exec, and the
        // process is gone by then.
        var files = new ExecFiles();
        files.Add(File(1), "/bin/busybox");
        files.Add(File(2), "/drop/busybox");

        var (sh, _) = files.Take(exe: null);
        Assert.Equal([1UL], Inodes(sh));
        var (dropped, _) = files.Take(exe: null);
        Assert.Equal([2UL], Inodes(dropped));
        Assert.Equal(0, files.Count);
    }

    [Fact]
    public void A_script_s_interpreter_and_a_dynamic_program_s_loader_belong_to_the_exec_that_loaded_them()
    {
        var files = new ExecFiles();
        files.Add(File(10, loadsInterpreter: true), "/tmp/job.sh");   // #!/usr/bin/python3
        files.Add(File(11, loadsInterpreter: true), "/usr/bin/python3"); // PT_INTERP
        files.Add(File(12), "/lib64/ld-linux-x86-64.so.2");
        files.Add(File(20, loadsInterpreter: true), "/bin/ls");
        files.Add(File(12), "/lib64/ld-linux-x86-64.so.2");

        Assert.Equal([10UL, 11UL, 12UL], Inodes(files.Take(exe: null).Group));
        Assert.Equal([20UL, 12UL], Inodes(files.Take(exe: null).Group));
        Assert.Empty(files.Take(exe: null).Group);
    }

    [Fact]
    public void Proc_describes_an_exec_only_when_it_names_one_of_that_exec_s_files()
    {
        var files = new ExecFiles();
        files.Add(File(10, loadsInterpreter: true), "/tmp/job.sh");
        files.Add(File(11), "/bin/busybox");
        files.Add(File(20), "/drop/busybox");

        // /proc/PID/exe names the script's interpreter: this exec, still running.
        Assert.True(files.Take(exe: (42, 11)).ProcDescribesIt);

        files.Add(File(30), "/drop/other");
        // /proc/PID/exe names the later file: the process has exec'd again since, so its /proc is not this exec's.
        var (group, described) = files.Take(exe: (42, 30));
        Assert.Equal([20UL], Inodes(group));
        Assert.False(described);
        Assert.True(files.Take(exe: (42, 30)).ProcDescribesIt);
    }

    [Fact]
    public void An_exec_whose_file_was_not_captured_is_described_from_proc_alone()
    {
        var files = new ExecFiles();
        var (group, described) = files.Take(exe: (7, 99));
        Assert.Empty(group);
        Assert.True(described);
        Assert.False(files.Take(exe: null).ProcDescribesIt);
    }
}
