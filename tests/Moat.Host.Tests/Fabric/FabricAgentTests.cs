using System.Runtime.Versioning;
using Moat.Host.Fabric;
using Moat.Host.Sandboxes;

namespace Moat.Host.Tests.Fabric;

/// <summary>Hosts on the fabric: a real agent joined to a real Prosody, driven by a control plane over XMPP.</summary>
[Trait("Category", "Integration")]
[SupportedOSPlatform("linux")]
public sealed class FabricAgentTests
{
    [Fact]
    public async Task An_allowed_control_plane_sees_the_host_and_drives_a_sandbox_over_xmpp()
    {
        await using var f = await FabricHarness.StartAsync(new Dictionary<string, int> { ["busybox"] = 1 }, "198.19.2.0/24");
        await using var cp = await f.ControlAsync(f.AdminJid);
        await cp.WatchAsync(f.HostJid);
        await FabricHarness.WaitForAsync(() => cp.Hosts.Any(h => h.Jid == f.HostJid + "/agent" && h.PoolTarget == 1 && h.PoolReady == 1),
            "the host's presence says its pool of 1 is ready");
        Assert.All(cp.Hosts, h => Assert.True(h.FreeMemoryMb > 0));

        var marker = "m" + Guid.NewGuid().ToString("N")[..8];
        var claim = await cp.ClaimAsync(f.HostJid, new SandboxSpec { Name = marker, MemoryBytes = 64 * SandboxSpec.MiB });
        Assert.True(claim.FromPool);

        // The agent's own API shows the sandbox, handed to the requester's bare JID whatever the body said.
        var local = await f.Host.Client.InspectAsync(marker);
        Assert.Equal(f.AdminJid, local.Sandbox.Spec.Client);
        await FabricHarness.WaitForAsync(() => cp.Hosts.Any(h => h.Jid == f.HostJid + "/agent" && h.Sandboxes == 1), "presence counts the claimed sandbox");

        var exec = await cp.ExecAsync(f.HostJid, marker, ["sh", "-c", $"echo {marker} $(hostname); exit 3"]);
        Assert.Equal(3, exec.ExitCode);
        Assert.StartsWith($"{marker} ", exec.Stdout, StringComparison.Ordinal);
        // The claim's limits were applied to the warm sandbox's cgroup (read from the host side).
        Assert.Equal((64 * SandboxSpec.MiB).ToString(System.Globalization.CultureInfo.InvariantCulture),
            File.ReadAllText($"/sys/fs/cgroup/memory/{claim.Sandbox.CgroupPath.TrimStart('/')}/memory.limit_in_bytes").Trim());

        var list = await cp.ListAsync(f.HostJid);
        Assert.Contains(list, s => s.Name == marker);
        var inspected = await cp.InspectAsync(f.HostJid, marker);
        Assert.Equal(claim.Sandbox.Id, inspected.GetProperty("sandbox").GetProperty("id").GetString());

        await cp.DestroyAsync(f.HostJid, marker);
        Assert.DoesNotContain(await f.Host.Client.ListAsync(), s => s.Name == marker);
        await FabricHarness.WaitForAsync(() => cp.Hosts.Any(h => h.Jid == f.HostJid + "/agent" && h.Sandboxes == 0), "presence says the sandbox is gone");
    }

    [Fact]
    public async Task An_allowed_jid_drives_only_the_sandboxes_handed_to_it_and_an_admin_drives_all()
    {
        await using var f = await FabricHarness.StartAsync(pool: "198.19.7.0/24");
        await using var jobs = await f.ControlAsync(f.JobsJid);
        await using var admin = await f.ControlAsync(f.AdminJid);
        var mine = (await jobs.ClaimAsync(f.HostJid, new SandboxSpec { Name = "jobs-own", MemoryBytes = 64 * SandboxSpec.MiB })).Sandbox;
        var theirs = (await admin.ClaimAsync(f.HostJid, new SandboxSpec { Name = "admins", MemoryBytes = 64 * SandboxSpec.MiB })).Sandbox;

        Assert.Equal([mine.Id], (await jobs.ListAsync(f.HostJid)).Select(s => s.Id));
        Assert.Equal(new[] { mine.Id, theirs.Id }.Order(), (await admin.ListAsync(f.HostJid)).Select(s => s.Id).Order());

        // Someone else's sandbox, by name or id, is answered as one that does not exist, and is left untouched.
        foreach (var reference in new[] { "admins", theirs.Id })
        {
            var exec = await Assert.ThrowsAsync<FabricCallException>(() => jobs.ExecAsync(f.HostJid, reference, ["touch", "/pwned"]));
            Assert.Equal("item-not-found", exec.Condition);
            Assert.Equal("item-not-found", (await Assert.ThrowsAsync<FabricCallException>(() => jobs.InspectAsync(f.HostJid, reference))).Condition);
            Assert.Equal("item-not-found", (await Assert.ThrowsAsync<FabricCallException>(() => jobs.DestroyAsync(f.HostJid, reference))).Condition);
        }

        Assert.Equal("item-not-found", (await Assert.ThrowsAsync<FabricCallException>(() => jobs.InspectAsync(f.HostJid, "nosuch"))).Condition);
        Assert.NotEqual(0, (await f.Host.Client.ExecAsync("admins", ["test", "-e", "/pwned"])).ExitCode);
        Assert.Contains(await f.Host.Client.ListAsync(), s => s.Id == theirs.Id);

        // Its own, and the admin on anyone's.
        Assert.Equal(0, (await jobs.ExecAsync(f.HostJid, "jobs-own", ["true"])).ExitCode);
        Assert.Equal(0, (await admin.ExecAsync(f.HostJid, "jobs-own", ["true"])).ExitCode);
        await admin.DestroyAsync(f.HostJid, "jobs-own");
        await Assert.ThrowsAsync<FabricCallException>(() => jobs.InspectAsync(f.HostJid, "jobs-own"));
    }

    [Fact]
    public async Task A_jid_not_on_the_allow_list_is_refused_and_changes_nothing()
    {
        await using var f = await FabricHarness.StartAsync(pool: "198.19.3.0/24");
        await using var mallory = await f.ControlAsync(f.MalloryJid);
        await using var admin = await f.ControlAsync(f.AdminJid);

        // Mallory asks to watch the host before the admin does; the host's one stream handles both in that order, so once
        // the admin sees the host, Mallory's request has been answered too — with a refusal.
        await mallory.WatchAsync(f.HostJid);
        await admin.WatchAsync(f.HostJid);
        await FabricHarness.WaitForAsync(() => admin.Hosts.Count == 1, "the admin sees the host");
        await admin.StatusAsync(f.HostJid);
        Assert.Empty(mallory.Hosts);
        Assert.DoesNotContain(await mallory.Xmpp.GetRosterAsync(), r => r.Jid == f.HostJid && r.Subscription is "to" or "both");

        var e = await Assert.ThrowsAsync<FabricCallException>(() => mallory.ClaimAsync(f.HostJid, new SandboxSpec { Name = "stolen" }));
        Assert.Equal("forbidden", e.Condition);
        Assert.Contains("may not drive sandboxes", e.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<FabricCallException>(() => mallory.ListAsync(f.HostJid));
        Assert.Empty(await f.Host.Client.ListAsync());
    }

    [Fact]
    public async Task Bad_requests_get_one_clear_sentence()
    {
        await using var f = await FabricHarness.StartAsync(pool: "198.19.4.0/24");
        await using var cp = await f.ControlAsync(f.AdminJid);
        // The host must be online before it can answer: its presence says so.
        await cp.WatchAsync(f.HostJid);
        await FabricHarness.WaitForAsync(() => cp.Hosts.Any(h => h.Jid == f.HostJid + "/agent"), "the host's presence");

        var unknown = await Assert.ThrowsAsync<FabricCallException>(() => cp.CallAsync<object>(f.HostJid, "format-disk", null, null));
        Assert.Equal("bad-request", unknown.Condition);
        Assert.Contains("is not a host operation", unknown.Message, StringComparison.Ordinal);

        var missing = await Assert.ThrowsAsync<FabricCallException>(() => cp.ExecAsync(f.HostJid, "no-such-sandbox", ["true"]));
        Assert.Equal("item-not-found", missing.Condition);

        var badSpec = await Assert.ThrowsAsync<FabricCallException>(() => cp.ClaimAsync(f.HostJid, new SandboxSpec { MemoryBytes = 1024 }));
        Assert.Equal("bad-request", badSpec.Condition);
        Assert.Contains("memory", badSpec.Message, StringComparison.Ordinal);

        var noRef = await Assert.ThrowsAsync<FabricCallException>(() => cp.CallAsync<object>(f.HostJid, "rm", null, null));
        Assert.Contains("needs ref=", noRef.Message, StringComparison.Ordinal);
        Assert.Empty(await f.Host.Client.ListAsync());
    }

    [Fact]
    public async Task The_host_rejoins_after_the_xmpp_server_restarts()
    {
        await using var f = await FabricHarness.StartAsync(pool: "198.19.5.0/24");
        await using var cp = await f.ControlAsync(f.AdminJid);
        await cp.WatchAsync(f.HostJid);
        await FabricHarness.WaitForAsync(() => cp.Hosts.Count == 1, "the admin sees the host");

        await f.Server.RestartAsync();
        await FabricHarness.WaitForAsync(() => cp.Xmpp.IsConnected && f.Agent.Client is { IsConnected: true }, "both sides are back", 60);
        await FabricHarness.WaitForAsync(() => cp.Hosts.Count == 1, "the host's presence is seen again (the server kept the subscription)", 60);
        var claim = await cp.ClaimAsync(f.HostJid, new SandboxSpec { Name = "after-restart" });
        Assert.Equal("after-restart", claim.Sandbox.Name);
        await cp.DestroyAsync(f.HostJid, "after-restart");
    }

    [Fact]
    public void Fabric_options_name_the_bad_field()
    {
        var e = Assert.Throws<InvalidRequestException>(() => new FabricOptions { Jid = "no-at-sign", PasswordFile = "/etc/hostname" }.Validate());
        Assert.Contains("--xmpp 'no-at-sign'", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<InvalidRequestException>(() => new FabricOptions { Jid = "h@d", Server = "nowhere", PasswordFile = "/etc/hostname" }.Validate());
        Assert.Contains("--xmpp-server 'nowhere' is not host:port", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<InvalidRequestException>(() => new FabricOptions { Jid = "h@d", PasswordFile = "/nonexistent/pw" }.Validate());
        Assert.Contains("--xmpp-password-file", e.Message, StringComparison.Ordinal);
        e = Assert.Throws<InvalidRequestException>(() => new FabricOptions { Jid = "h@d", PasswordFile = "/etc/hostname", Allow = ["bare-domain"] }.Validate());
        Assert.Contains("--xmpp-allow 'bare-domain'", e.Message, StringComparison.Ordinal);
    }
}
