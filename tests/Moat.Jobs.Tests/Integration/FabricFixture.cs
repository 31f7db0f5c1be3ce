using System.Collections.Concurrent;
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
    private readonly ConcurrentDictionary<string, WorkerPool> pools = new(StringComparer.Ordinal);
    private int counter;

    public ProsodyServer Server { get; private set; } = null!;

    /// <summary>A 0600 file holding <see cref="Password"/>, for the CLI's --password-file.</summary>
    public string PasswordFile { get; } = Path.Combine(Path.GetTempPath(), $"moat-jobs-test-{Guid.NewGuid():N}.password");

    public async Task InitializeAsync()
    {
        await Moat.Linux.Files.SecretFile.WriteLineAsync(PasswordFile, Password);
        Server = await ProsodyServer.StartAsync(ProsodyOptions.Default);
    }

    public async Task DisposeAsync()
    {
        File.Delete(PasswordFile);
        await Server.DisposeAsync();
    }

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

    public JobManagerOptions ManagerOptions(string jid, string managerId, string submitter) => new()
    {
        Xmpp = Xmpp(jid, "manager"),
        ManagerId = managerId,
        Authorization = new JobAuthorization(new HashSet<string> { submitter }, new HashSet<string>()),
        AnswerGrace = TimeSpan.FromSeconds(5),
        WorkerAllow = Pool(jid).Accounts,
    };

    public JobManager Manager(string jid, IJobStore store, string managerId, string submitter) => new(ManagerOptions(jid, managerId, submitter), store);

    /// <summary>A worker on the next account of the manager's allow-list.</summary>
    public JobWorker Worker(string managerJid, int slots) => Worker(managerJid, NextWorkerAccount(managerJid), "w", slots);

    public JobWorker Worker(string managerJid, string account, string resource, int slots) => new(new JobWorkerOptions
    {
        Xmpp = Xmpp(account, resource) with { Reconnect = false },
        Managers = [managerJid],
        Slots = slots,
    });

    /// <summary>An account on the manager's worker allow-list not yet handed out.</summary>
    public string NextWorkerAccount(string managerJid)
    {
        var pool = Pool(managerJid);
        return pool.Accounts[Interlocked.Increment(ref pool.Next) - 1];
    }

    /// <summary>Each manager account allows its own accounts, made up front (accounts are cheap: one file each).</summary>
    private WorkerPool Pool(string managerJid) => pools.GetOrAdd(managerJid, _ => new WorkerPool(Enumerable.Range(0, 16).Select(_ => NewAccount("worker")).ToArray()));

    private sealed class WorkerPool(string[] accounts)
    {
        public int Next;

        public string[] Accounts { get; } = accounts;
    }
}

[CollectionDefinition(Name)]
public sealed class FabricCollection : ICollectionFixture<FabricFixture>
{
    public const string Name = "fabric";
}
