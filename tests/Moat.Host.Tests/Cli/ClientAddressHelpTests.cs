using System.Diagnostics;

namespace Moat.Host.Tests.Cli;

/// <summary>
/// `moat sandbox run --help` tells a tenant which client addresses are refused and why before they try one, with an
/// example of one that is accepted.
/// </summary>
[Trait("Category", "Hostile")]
public sealed class ClientAddressHelpTests
{
    [Theory]
    [InlineData("run")]
    [InlineData("create")]
    public async Task Client_address_help_names_the_refused_addresses_and_gives_an_example(string verb)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "moat.dll"), "sandbox", verb, "--help" })
        {
            psi.ArgumentList.Add(a);
        }

        using var help = Process.Start(psi)!;
        string text = await help.StandardOutput.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(60));
        await help.WaitForExitAsync();

        // The option's help, wrapped by the console renderer: compare with whitespace folded.
        string folded = string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        int at = folded.IndexOf("--client-address", StringComparison.Ordinal);
        Assert.True(at >= 0, folded);
        string option = folded[at..];
        foreach (var word in new[] { "loopback", "link-local", "this host's own addresses", "sandbox pool", "LAN", "e.g. --client-address 203.0.113.7" })
        {
            Assert.Contains(word, option, StringComparison.Ordinal);
        }
    }
}
