namespace Moat.Host.Sandboxes;

/// <summary>Where a sandbox is in its life. Creating and Destroying are journal states: a crash in them is undone on restart.</summary>
public enum SandboxState
{
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
    Destroying,
}
