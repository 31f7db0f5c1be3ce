using System.Runtime.Versioning;
using Moat.Xmpp.Cli;
using Moat.Xmpp.Client;

namespace Moat.Xmpp.Tests.Integration;

[Collection(ProsodyCollection.Name)]
[Trait("Category", "Integration")]
[SupportedOSPlatform("linux")]
public sealed class XmppCommandsTests(ProsodyFixture prosody)
{
    [Fact]
    public async Task Account_add_creates_an_account_the_running_server_accepts()
    {
        int code = await XmppCommands.Create().Parse(["account", "add", "clibob", "--password", "cli-pw", "--data", prosody.Server.DataDirectory, "--domain", "sha256.test", "--sha256"]).InvokeAsync();
        Assert.Equal(0, code);
        await using var client = new XmppClient(prosody.OptionsFor("clibob@sha256.test") with { Password = "cli-pw", Reconnect = false });
        await client.ConnectAsync();
        Assert.Equal("SCRAM-SHA-256", client.Mechanism);
    }

    [Fact]
    public async Task Account_add_into_a_folder_without_a_server_fails()
    {
        string missing = Path.Combine(Path.GetTempPath(), $"moat-none-{Guid.NewGuid():N}");
        int code = await XmppCommands.Create().Parse(["account", "add", "x", "--password", "p", "--data", missing]).InvokeAsync();
        Assert.Equal(1, code);
        Assert.False(Directory.Exists(missing));
    }

    [Fact]
    [Trait("Category", "Hostile")]
    public async Task Account_add_reads_the_password_from_a_file_so_that_it_is_in_no_process_list()
    {
        var file = Path.Combine(Path.GetTempPath(), $"moat-pw-{Guid.NewGuid():N}");
        await File.WriteAllTextAsync(file, "file-pw\n");
        try
        {
            int code = await XmppCommands.Create().Parse(["account", "add", "clifile", "--password-file", file, "--data", prosody.Server.DataDirectory]).InvokeAsync();
            Assert.Equal(0, code);
            await using var client = new XmppClient(prosody.OptionsFor("clifile@moat.test") with { Password = "file-pw", Reconnect = false });
            await client.ConnectAsync();

            // Both ways at once is refused: which password was meant would be a guess.
            var error = new StringWriter();
            var before = Console.Error;
            Console.SetError(error);
            try
            {
                code = await XmppCommands.Create().Parse(["account", "add", "clifile", "--password-file", file, "--password", "other", "--data", prosody.Server.DataDirectory]).InvokeAsync();
            }
            finally
            {
                Console.SetError(before);
            }

            Assert.Equal(1, code);
            Assert.StartsWith("give the account's password with --password-file FILE", error.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
