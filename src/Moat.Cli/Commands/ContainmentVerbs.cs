using System.CommandLine;
using Moat.Cli.Output;

namespace Moat.Cli.Commands;

/// <summary>`moat sandbox quarantine|allow|evidence` and `moat policy reload`: network containment and post-mortems through the agent.</summary>
internal static class ContainmentVerbs
{
    public static Command Quarantine()
    {
        var target = new Argument<string>("sandbox") { Description = "Sandbox name or id." };
        var freeze = new Option<bool>("--freeze") { Description = "Also freeze every process (cgroup freezer) for a post-mortem; --lift thaws them." };
        var lift = new Option<bool>("--lift") { Description = "End an operator's quarantine: processes thawed, the rules of the sandbox's trust level back in force. (Responses the watchers took are undone with 'moat sandbox release'.)" };
        var c = new Command("quarantine", """
            Cut a sandbox off the network at once, keeping it (files, processes) for a post-mortem.
            Every packet to and from it is dropped by its nftables chain; undo with --lift.
            Example: moat sandbox quarantine web --freeze; moat sandbox quarantine web --lift
            """) { target, freeze, lift };
        c.SetAction((p, ct) => SandboxCommands.Call(p, async hc =>
            Print(p, p.GetValue(lift)
                ? await hc.LiftQuarantineAsync(p.GetValue(target)!, ct)
                : await hc.QuarantineAsync(p.GetValue(target)!, p.GetValue(freeze), ct))));
        return c;
    }

    public static Command Evidence()
    {
        var target = new Argument<string>("sandbox") { Description = "Sandbox name or id." };
        var output = new Option<DirectoryInfo?>("--out") { Description = "Write here (a new or empty folder); default <state>/evidence/<id>-<time>." };
        var c = new Command("evidence", """
            Export what a post-mortem of a sandbox needs, without stopping or changing it: its file system changes
            (list and tar of the overlay's upper layer), processes, every flow the flow log has of it, the watchers'
            alerts and exec records, the nftables rules in force, its console, and a manifest with each file's SHA-256.
            Quarantine first to keep it from doing more: moat sandbox quarantine web --freeze
            Example: moat sandbox evidence web --out /srv/cases/web-2026-12-02
            """) { target, output };
        c.SetAction((p, ct) => SandboxCommands.Call(p, async hc =>
        {
            var r = await hc.EvidenceAsync(p.GetValue(target)!, p.GetValue(output)?.FullName, ct);
            if (p.GetValue(CommonOptions.Json))
            {
                Printer.Json(r);
                return;
            }

            Console.Out.WriteLine($"evidence of {r.SandboxId} in {r.Directory}");
            foreach (var f in r.Files)
            {
                Console.Out.WriteLine($"  {f.Name,-26} {f.Bytes,10:N0} B  sha256 {f.Sha256[..16]}…  {f.What}");
            }

            foreach (var n in r.Notes)
            {
                Console.Out.WriteLine($"  note: {n}");
            }
        }));
        return c;
    }

    public static Command Allow()
    {
        var target = new Argument<string>("sandbox") { Description = "Sandbox name or id." };
        var authcert = new Option<FileInfo>("--authcert") { Description = "The authorization certificate chain (PEM) from 'moat authcert issue'.", Required = true };
        var key = new Option<FileInfo>("--key") { Description = "Your private key (PEM), the one whose public key the authcert was issued for: it signs a proof that you hold it, so a copied authcert opens nothing.", Required = true };
        var c = new Command("allow", """
            Open the path an authorization certificate grants: the host verifies its chain, address, validity window and
            signature, and your proof that you hold the key it was issued for, then lets this sandbox reach exactly that
            node until the certificate expires.
            Example: moat sandbox allow job --authcert node-a.pem --key me.key
            """) { target, authcert, key };
        c.SetAction((p, ct) =>
        {
            var file = p.GetValue(authcert)!;
            if (!file.Exists)
            {
                throw new MoatException(ErrorKind.NotFound, $"--authcert {file.FullName} does not exist: give the PEM file written by 'moat authcert issue'.");
            }

            var keyFile = p.GetValue(key)!;
            if (!keyFile.Exists)
            {
                throw new MoatException(ErrorKind.NotFound, $"--key {keyFile.FullName} does not exist: give your private key (PEM), e.g. from 'moat pki keygen'.");
            }

            System.Security.Cryptography.AsymmetricAlgorithm userKey;
            try
            {
                userKey = Moat.Pki.Storage.PemFiles.ReadPrivateKey(keyFile.FullName);
            }
            catch (Exception e) when (e is Moat.Pki.PkiException or System.Security.Cryptography.CryptographicException or ArgumentException)
            {
                throw new MoatException(ErrorKind.Invalid, $"--key {keyFile.FullName} is not a private key this tool reads (PEM, ECDSA or RSA): {e.Message}", e);
            }

            return AllowAsync(p, target, file, userKey, ct);
        });
        return c;
    }

    /// <summary>Exit 0 when the path is open, 3 when the host refused the certificate (the reason is printed).</summary>
    private static async Task<int> AllowAsync(ParseResult p, Argument<string> target, FileInfo file, System.Security.Cryptography.AsymmetricAlgorithm userKey, CancellationToken ct)
    {
        using var owned = userKey;
        var refused = false;
        var code = await SandboxCommands.Call(p, async hc =>
        {
            var pem = await File.ReadAllTextAsync(file.FullName, ct);
            Moat.Host.Api.AllowResponse r;
            try
            {
                r = await hc.AllowAsync(p.GetValue(target)!, pem, userKey, ct);
            }
            catch (Moat.Pki.PkiException e)
            {
                r = new Moat.Host.Api.AllowResponse(false, null, null, e.Message);
            }
            if (p.GetValue(CommonOptions.Json))
            {
                Printer.Json(r);
            }
            else
            {
                Console.Out.WriteLine(r.Open ? $"open: {r.Address} until {r.Until:u}" : $"refused: {r.Explanation}");
            }

            refused = !r.Open;
        });
        return code == 0 && refused ? 3 : code;
    }

    public static Command PolicyReload()
    {
        var c = new Command("reload", "Re-read the agent's policy file and put it in force for running sandboxes; a bad file is refused and the old policy stays.\nExample: moat policy reload");
        c.SetAction((p, ct) => SandboxCommands.Call(p, async hc =>
        {
            var r = await hc.ReloadPolicyAsync(ct);
            if (p.GetValue(CommonOptions.Json))
            {
                Printer.Json(r);
            }
            else
            {
                Console.Out.WriteLine($"policy {r.Source} in force: default {r.DefaultTrust}, {r.Clients} clients, {r.AllowRules} allow rules");
            }
        }));
        return c;
    }

    private static void Print(ParseResult p, Moat.Host.Api.QuarantineResponse r)
    {
        if (p.GetValue(CommonOptions.Json))
        {
            Printer.Json(r);
        }
        else
        {
            Console.Out.WriteLine($"{r.Id}  {(r.Quarantined ? "quarantined" : "released")}{(r.Frozen ? ", frozen" : "")}  ({r.Mechanism})");
        }
    }
}
