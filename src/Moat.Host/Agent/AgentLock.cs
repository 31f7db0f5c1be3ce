namespace Moat.Host.Agent;

/// <summary>
/// Exclusive ownership of a state folder: two agents on one folder would each reconcile away the other's sandboxes.
/// .NET takes an flock(2) for FileShare.None on Linux, and the kernel drops it when the process dies, even by SIGKILL.
/// </summary>
public sealed class AgentLock : IDisposable
{
    private readonly FileStream _file;

    private AgentLock(FileStream file) => _file = file;

    public static AgentLock Acquire(string stateDir)
    {
        Directory.CreateDirectory(stateDir);
        var path = Path.Combine(stateDir, "agent.lock");
        FileStream f;
        try
        {
            f = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            // The lock file itself cannot be read while locked (.NET takes a shared flock to read), hence agent.pid.
            var pidFile = Path.Combine(stateDir, "agent.pid");
            var holder = File.Exists(pidFile) ? File.ReadAllText(pidFile).Trim() : "?";
            throw new AgentAlreadyRunningException(
                $"another host agent (pid {holder}) already runs on state directory {stateDir}; stop it or use another --state-dir.");
        }

        File.WriteAllText(Path.Combine(stateDir, "agent.pid"), Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return new AgentLock(f);
    }

    public void Dispose() => _file.Dispose();
}

/// <summary>Another agent holds the state folder: the start is refused by the present state (exit 3).</summary>
public sealed class AgentAlreadyRunningException(string message) : MoatHostException(Moat.ErrorKind.Refused, message);
