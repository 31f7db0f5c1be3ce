namespace Moat.Mtd.Tests.Relocation;

/// <summary>
/// The lab's secrets (the coordinator's fabric password, the shared checkpoint key, each host's xmpp.password) are
/// 0600 in 0700 folders: another local user must not read a password that administers every lab host.
/// </summary>
[Trait("Category", "Hostile")]
[Trait("Category", "Integration")]
public sealed class LabSecretsHostileTests
{
    private const UnixFileMode PrivateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode PrivateFolder = PrivateFile | UnixFileMode.UserExecute;

    [Fact]
    public async Task Lab_secrets_are_0600_in_0700_folders_and_gone_with_the_lab()
    {
        string secrets;
        await using (var lab = await LabImages.StartLabAsync(hosts: 1, fabric: true))
        {
            secrets = Path.GetDirectoryName(lab.CoordinatorPasswordFile)!;
            foreach (var file in new[] { lab.CoordinatorPasswordFile, lab.CheckpointKeyFile })
            {
                Assert.Equal(PrivateFile, File.GetUnixFileMode(file));
                Assert.Equal(PrivateFolder, File.GetUnixFileMode(Path.GetDirectoryName(file)!));
            }

            var hostPassword = Path.Combine(lab.Hosts[0].Options.StateDir, "xmpp.password");
            Assert.Equal(PrivateFile, File.GetUnixFileMode(hostPassword));
        }

        Assert.False(Directory.Exists(secrets) && Directory.EnumerateFileSystemEntries(secrets).Any(), $"{secrets} still holds secrets after the lab ended");
    }
}
