namespace Moat.Honeyfarm.Clones;

/// <summary>What makes one clone unlike its siblings: host name, machine id and the seed of its randomness.</summary>
public sealed record CloneIdentity(string HostName, string MachineId, int Seed)
{
    public static CloneIdentity Create(Random random)
    {
        Span<byte> id = stackalloc byte[16];
        random.NextBytes(id);
        var machineId = Convert.ToHexStringLower(id);
        return new CloneIdentity("srv-" + machineId[..6], machineId, random.Next());
    }
}
