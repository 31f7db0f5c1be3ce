using Moat.Host;
using Moat.Host.Sandboxes;
using Moat.Host.Store;

namespace Moat.Host.Tests.Sandboxes;

/// <summary>
/// Sandbox names and client identities are chosen by clients (over the local API and the fabric): they must never
/// make a reference to one sandbox reach another, nor carry control characters into logs, messages or rules.
/// </summary>
[Trait("Category", "Hostile")]
public sealed class SandboxNameHostileTests : IDisposable
{
    private const long HostMemory = 4L << 30;
    private readonly string _dir = Directory.CreateTempSubdirectory("mth-names-").FullName;

    [Theory]
    [InlineData("a1b2c3d4e5")] // exactly an id's shape
    [InlineData("cafe")] // the shortest id prefix 'moat sandbox rm' accepts
    [InlineData("0123456789abcdef")]
    public void Validate_NameThatCouldBeTakenForAnId_IsRefusedWithOneSentence(string name)
    {
        var e = Assert.Throws<InvalidRequestException>(() => (SandboxSpec.Default with { Name = name }).Validate(HostMemory, 2));

        Assert.Contains($"name '{name}'", e.Message, StringComparison.Ordinal);
        Assert.Contains("id", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("web")]
    [InlineData("abc")]
    [InlineData("cafe-1")]
    [InlineData("job7")]
    public void Validate_OrdinaryNames_AreAccepted(string name) => (SandboxSpec.Default with { Name = name }).Validate(HostMemory, 2);

    [Theory]
    [InlineData("web\nERROR forged log line")]
    [InlineData("web\n")] // '$' in a .NET pattern also matches before a final newline
    [InlineData("web\u001b[2J")]
    [InlineData("../../etc")]
    public void Validate_NameWithControlCharactersOrPath_IsRefusedAndTheMessageCarriesNoControlCharacter(string name)
    {
        var e = Assert.Throws<InvalidRequestException>(() => (SandboxSpec.Default with { Name = name }).Validate(HostMemory, 2));

        Assert.DoesNotContain(e.Message, char.IsControl);
        Assert.StartsWith("name '", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("alice\nbob")]
    [InlineData("alice\u0000")]
    [InlineData("alice\u001b]0;owned\u0007")]
    public void Validate_ClientWithControlCharacters_IsRefusedWithOneSentence(string client)
    {
        var e = Assert.Throws<InvalidRequestException>(() => (SandboxSpec.Default with { Client = client }).Validate(HostMemory, 2));

        Assert.StartsWith("client ", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(e.Message, char.IsControl);
    }

    [Fact]
    public void Find_FullIdOfOneSandboxThatIsAnothersName_FindsTheSandboxWithThatId()
    {
        var store = new HostStore(Path.Combine(_dir, "store.db"));
        // Stored before names of an id's shape were refused (or written by an agent that did not refuse them).
        store.Insert(Sandbox("1122334455", name: "a1b2c3d4e5", "198.18.0.2"));
        store.Insert(Sandbox("a1b2c3d4e5", name: "victim", "198.18.0.3"));

        Assert.Equal("victim", store.Find("a1b2c3d4e5")!.Name);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Sandbox Sandbox(string id, string name, string address) => new()
    {
        Id = id, Name = name, Spec = SandboxSpec.Default with { Name = name }, ImageDigest = "sha256:bb", State = SandboxState.Running,
        Address = address, CreatedAt = DateTimeOffset.UnixEpoch,
    };
}
