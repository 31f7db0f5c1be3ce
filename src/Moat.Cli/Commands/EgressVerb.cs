using System.CommandLine;
using Moat.Cli.Output;

namespace Moat.Cli.Commands;

/// <summary>`moat sandbox egress`: allow or deny names for one sandbox, live, through the agent's egress resolver.</summary>
internal static class EgressVerb
{
    public static Command Create()
    {
        var target = new Argument<string>("sandbox") { Description = "Sandbox name or id." };
        var allow = new Option<string[]>("--allow") { Description = "A name the sandbox may resolve and reach, e.g. api.example.org or *.example.org (repeatable).", AllowMultipleArgumentsPerToken = false };
        var deny = new Option<string[]>("--deny") { Description = "A name it may not, whatever allows it (repeatable).", AllowMultipleArgumentsPerToken = false };
        var replace = new Option<bool>("--replace") { Description = "Make these the sandbox's whole own lists (default: add to them)." };
        var c = new Command("egress", """
            Allow or deny names for a sandbox, beside its policy's: from the next query the host's resolver answers an
            allowed name and opens its addresses until the answer's TTL; a denied name is refused and its addresses are
            closed at once. Without --allow or --deny, prints the lists in force. Needs an agent with --dns-upstream.
            Example: moat sandbox egress job --allow api.example.org --deny ads.example.org
            """) { target, allow, deny, replace };
        c.SetAction((p, ct) => SandboxCommands.Call(p, async hc =>
        {
            var r = await hc.EgressAsync(p.GetValue(target)!, new Moat.Host.Api.EgressRequest(p.GetValue(allow) ?? [], p.GetValue(deny) ?? [], p.GetValue(replace)), ct);
            if (p.GetValue(CommonOptions.Json))
            {
                Printer.Json(r);
                return;
            }

            Console.Out.WriteLine($"sandbox {r.Id}: own allow [{string.Join(", ", r.Allow)}], own deny [{string.Join(", ", r.Deny)}]");
            Console.Out.WriteLine($"in force: allow [{string.Join(", ", r.InForceAllow)}], deny [{string.Join(", ", r.InForceDeny)}]");
        }));
        return c;
    }
}
