using Moat.Host.Watch;
using Moat.Monitor;

namespace Moat.Host.Tests.Watch;

public sealed class RuntimeExecFilterTests
{
    private const string RuncSha = "aa11bb22cc33dd44ee55ff6600112233445566778899aabbccddeeff00112233";
    private static readonly RuntimeExecFilter Filter = new("runc", "/usr/bin/runc", RuncSha);

    private static ExecRecord Record(bool enteredFromHost, VerificationStatus status, string? sha) => new(
        DateTimeOffset.UnixEpoch, "sb", "client", "sandbox", 100, 99, null, ["runc", "init"], sha, null, null, null, null, null, null, false, null, null, status, null)
    {
        EnteredFromHost = enteredFromHost,
    };

    [Fact]
    public void Anonymous_exec_entered_from_the_host_with_the_runtime_content_is_the_runtime()
    {
        var why = Filter.Classify(Record(true, VerificationStatus.AnonymousExecution, RuncSha));
        Assert.NotNull(why);
        Assert.Contains("/usr/bin/runc", why, StringComparison.Ordinal);
    }

    [Fact]
    public void Anonymous_exec_entered_from_the_host_without_captured_content_is_the_runtime_but_says_it_is_unconfirmed()
    {
        Assert.Contains("not confirmed", Filter.Classify(Record(true, VerificationStatus.AnonymousExecution, null)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false, VerificationStatus.AnonymousExecution, RuncSha)] // forked inside the sandbox: the tenant's, even if it is a copy of runc
    [InlineData(true, VerificationStatus.AnonymousExecution, "0000000000000000000000000000000000000000000000000000000000000000")] // other content
    [InlineData(true, VerificationStatus.Verified, RuncSha)] // a file of the sandbox (the tenant's first program after runc init)
    [InlineData(true, VerificationStatus.NotSeenByFanotify, null)]
    public void Anything_else_is_the_tenants(bool enteredFromHost, VerificationStatus status, string? sha) =>
        Assert.Null(Filter.Classify(Record(enteredFromHost, status, sha)));

    [Theory]
    [InlineData(true, "/.moat/init", true, true)]    // the runtime starting Moat's init: not the tenant's
    [InlineData(false, "/.moat/init", true, false)]  // a tenant's process running the same file: the tenant's
    [InlineData(true, "/.moat/init", false, false)]  // other content at that path: the tenant's (drift, alerted)
    [InlineData(true, "/bin/init", true, false)]     // the init's content elsewhere: the tenant's
    public void Moats_own_init_is_recognised_only_as_the_runtime_starts_it(bool enteredFromHost, string path, bool initContent, bool runtimes)
    {
        var dir = Directory.CreateTempSubdirectory("moat-init-");
        try
        {
            var init = Path.Combine(dir.FullName, "moat-init");
            File.WriteAllText(init, "abc");
            var filter = RuntimeExecFilter.For("/nonexistent/runc", init);
            var record = Record(enteredFromHost, VerificationStatus.NotSeenByFanotify, initContent ? "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" : RuncSha) with { Path = path };
            Assert.Equal(runtimes, filter.Classify(record) is not null);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void For_hashes_the_runtime_found_on_path()
    {
        var dir = Directory.CreateTempSubdirectory("moat-rt-");
        try
        {
            var fake = Path.Combine(dir.FullName, "fakert");
            File.WriteAllText(fake, "abc");
            var filter = RuntimeExecFilter.For(fake);
            // SHA-256("abc"), FIPS 180-2 appendix B.1.
            Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", filter.RuntimeSha256);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
