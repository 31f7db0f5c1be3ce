namespace Moat.Monitor.Identify;

/// <summary>
/// The files one process has opened for execution (fanotify FAN_OPEN_EXEC, in the order the kernel queued them) not
/// yet paired with an exec event (proc connector). Each exec owns one group: the file named in execve, then each
/// interpreter the kernel loaded for it ("#!" interpreter, ELF PT_INTERP loader). Groups are paired with execs in
/// order, so an exec never takes a later exec's file, however late the monitor reads either queue.
/// </summary>
internal sealed class ExecFiles
{
    private readonly List<(FileFingerprint Print, string? Path)> _files = [];

    public int Count => _files.Count;

    public void Add(FileFingerprint print, string? path) => _files.Add((print, path));

    /// <summary>The earliest exec's group (without removing it), or an empty list.</summary>
    public IReadOnlyList<(FileFingerprint Print, string? Path)> Peek() => _files.GetRange(0, FirstGroupLength());

    /// <summary>
    /// Pairs the earliest group with an exec. <paramref name="exe"/> is what /proc/PID/exe names now (device, inode),
    /// or null when the process is gone or known to have exec'd again. Returns the group and whether /proc describes
    /// this exec: false when the group holds no file /proc names (the process has since exec'd another file).
    /// </summary>
    public (IReadOnlyList<(FileFingerprint Print, string? Path)> Group, bool ProcDescribesIt) Take((ulong Device, ulong Inode)? exe)
    {
        int n = FirstGroupLength();
        var group = _files.GetRange(0, n);
        _files.RemoveRange(0, n);
        bool described = exe is { } e && (n == 0 || group.Exists(f => f.Print.Device == e.Device && f.Print.Inode == e.Inode));
        return (group, described);
    }

    private int FirstGroupLength()
    {
        if (_files.Count == 0)
        {
            return 0;
        }

        int n = 1;
        while (n < _files.Count && _files[n - 1].Print.LoadsInterpreter)
        {
            n++;
        }

        return n;
    }
}
