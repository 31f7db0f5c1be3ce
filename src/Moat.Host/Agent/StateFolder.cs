namespace Moat.Host.Agent;

/// <summary>
/// Who may reach what in a state folder. Tenants' files (upper layers, volumes, consoles), the store, secrets and the
/// API socket are root's alone; the folder itself is only traversable (0711), so that a service that keeps its data in
/// a subfolder it owns (Prosody, user prosody) still reaches it while nobody else can list or enter anything.
/// </summary>
internal static class StateFolder
{
    /// <summary>0700.</summary>
    public const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>0600.</summary>
    public const UnixFileMode PrivateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>0711: enter by a known name, list nothing.</summary>
    public const UnixFileMode TraverseOnly = Private | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    /// <summary>Creates <paramref name="path"/> as 0700, or tightens it to 0700 when it exists (made by an older version).</summary>
    public static string CreatePrivate(string path)
    {
        Directory.CreateDirectory(path, Private);
        File.SetUnixFileMode(path, Private);
        return path;
    }

    /// <summary>
    /// Tightens a state folder as found at start: the folder 0711, each folder directly in it 0700 and each file 0600
    /// (owners kept, contents untouched). Symbolic links are left alone: where they point is the owner's choice.
    /// Below the first level nothing needs changing, since no other user can enter a 0700 folder.
    /// </summary>
    public static void Secure(string stateDir)
    {
        Directory.CreateDirectory(stateDir, TraverseOnly);
        File.SetUnixFileMode(stateDir, TraverseOnly);
        foreach (var entry in new DirectoryInfo(stateDir).EnumerateFileSystemInfos())
        {
            if (entry.LinkTarget is not null)
            {
                continue;
            }

            // Folders become 0700; files (the store, the lock, logs, the policy) lose every bit for group and others.
            entry.UnixFileMode = entry is DirectoryInfo ? Private : entry.UnixFileMode & Private;
        }
    }
}
