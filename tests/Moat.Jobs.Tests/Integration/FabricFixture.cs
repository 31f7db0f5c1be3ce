using System.Runtime.Versioning;
using Moat.Jobs.Manager;
using Moat.Jobs.Store;
using Moat.Jobs.Worker;
using Moat.Xmpp.Client;
using Moat.Xmpp.Server;

namespace Moat.Jobs.Tests.Integration;

/// <summary>A real Prosody shared by the job integration tests; each test makes its own accounts and store.</summary>
[SupportedOSPlatform("linux")]
public sealed class FabricFixture : IAsyncLifetime
{
    public const string Password = "pw-jobs";
    private int counter;

    public ProsodyServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await ProsodyServer.StartAsync(ProsodyOptions.Default);

    public async Task DisposeAsync() => await Server.DisposeAsync();

    public string NewAccount(string prefix)
    {
        string user = $"{prefix}{Interlocked.Increment(ref counter)}";
        Server.AddAccount(user, Password);
        return $"{user}@{Server.Domain}";
    }

    public XmppClientOptions Xmpp(string jid, string? resource = null) => XmppClientOptions.Default with
    {
        Host = Server.Address,
        Port = Server.Port,
        Jid = jid,
        Password = Password,
        Resource = resource,
        Tls = TlsMode.Disabled,
        ReconnectMinDelay = TimeSpan.FromMilliseconds(50),
        ReconnectMaxDelay = TimeSpan.FromSeconds(1),
    };

    public JobManager Manager(string jid, IJobStore store, string managerId, string submitter) => new(
        new JobManagerOptions
        {
            Xmpp = Xmpp(jid, "manager"),
            ManagerId = managerId,
            Authorization = new JobAuthorization(new HashSet<string> { submitter }, new HashSet<string>()),
            AnswerGrace = TimeSpan.FromSeconds(5),
        },
        store);

    public JobWorker Worker(string managerJid, int slots) => new(new JobWorkerOptions
    {
        Xmpp = Xmpp(NewAccount("worker"), "w") with { Reconnect = false },
        Managers = [managerJid],
        Slots = slots,
    });
}

[CollectionDefinition(Name)]
public sealed class FabricCollection : ICollectionFixture<FabricFixture>
{
    public const string Name = "fabric";
}
