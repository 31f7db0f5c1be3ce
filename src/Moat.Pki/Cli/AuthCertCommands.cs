using System.CommandLine;
using Moat.Pki.AuthCerts;
using Moat.Pki.Authority;
using Moat.Pki.Revocation;
using Moat.Pki.Storage;

namespace Moat.Pki.Cli;

/// <summary>The `moat authcert` verbs: a node signs an authcert for a user's key; a host verifies one.</summary>
public static class AuthCertCommands
{
    public static Command Create()
    {
        var authcert = new Command("authcert", "Authorization certificates: node A lets a user's sandboxes open a path to A's address.");
        authcert.Subcommands.Add(Issue());
        authcert.Subcommands.Add(Verify());
        return authcert;
    }

    private static Command Issue()
    {
        var command = new Command("issue", """
            Sign an authcert with node A's key: it names A's address and the user's public key, and lives --ttl.
            The output is the authcert followed by A's certificate (PEM), which is what 'authcert verify' needs.
            The signer may also be a surrogate host's CA, signing for one of its sandboxes' addresses.
            Example: moat authcert issue --node-cert A.crt --node-key A.key --user-key user.pub --address 198.18.1.5 --ttl 1h --out authcert.pem
            """);
        var nodeCert = new Option<string>("--node-cert") { Description = "Node A's certificate (or its host's CA certificate), PEM.", Required = true };
        var nodeKey = new Option<string>("--node-key") { Description = "Node A's private key, PEM.", Required = true };
        var userKey = new Option<string>("--user-key") { Description = "The user's public key (PEM public key or certificate).", Required = true };
        var address = new Option<string>("--address") { Description = "A's address the authcert opens.", Required = true };
        var ttl = new Option<string>("--ttl") { Description = "Lifetime (s, m, h or d).", DefaultValueFactory = _ => "1h" };
        var outPath = new Option<string>("--out") { Description = "Where to write authcert + chain (PEM); stdout when absent." };
        var json = CliSupport.JsonOption();
        foreach (var option in new Option[] { nodeCert, nodeKey, userKey, address, ttl, outPath, json })
        {
            command.Options.Add(option);
        }

        command.SetAction((parseResult, cancellationToken) => CliSupport.RunAsync(parseResult, async output =>
        {
            var nodeCertPath = parseResult.GetValue(nodeCert)!;
            var ledgerPath = CliSupport.LedgerPathFor(nodeCertPath);
            using var signer = await HostAuthority.LoadAsync(nodeCertPath, parseResult.GetValue(nodeKey)!, ledgerPath, cancellationToken: cancellationToken).ConfigureAwait(false);
            var issued = signer.IssueAuthCert(
                CliSupport.ParseAddress(parseResult.GetValue(address)!, "--address"),
                PemFiles.ReadPublicKey(parseResult.GetValue(userKey)!),
                CliSupport.ParseDuration(parseResult.GetValue(ttl)!, "--ttl"));
            await signer.Ledger.SaveAsync(ledgerPath, cancellationToken).ConfigureAwait(false);
            var path = parseResult.GetValue(outPath);
            if (path is not null)
            {
                await File.WriteAllTextAsync(path, issued.ChainPem, cancellationToken).ConfigureAwait(false);
            }

            if (parseResult.GetValue(json))
            {
                await CliSupport.WriteJsonAsync(output, new
                {
                    serial = issued.Serial,
                    address = issued.Address.ToString(),
                    notAfter = issued.NotAfter,
                    path,
                    pem = path is null ? issued.ChainPem : null,
                }).ConfigureAwait(false);
            }
            else if (path is null)
            {
                await output.WriteAsync(issued.ChainPem).ConfigureAwait(false);
            }
            else
            {
                await output.WriteLineAsync($"wrote {path}: authcert {issued.Serial} for {issued.Address}, valid until {issued.NotAfter:u}").ConfigureAwait(false);
            }

            return 0;
        }));
        return command;
    }

    private static Command Verify()
    {
        var command = new Command("verify", """
            Verify an authcert as a surrogate host does before opening a path: RFC 5280 path validation to the roots
            (signatures, validity, basicConstraints/pathLen, keyUsage, IP name constraints, CRLs given with --crl),
            the authcert names exactly the address, and its signer's certificate binds that address.
            Exit code 0 and "open path user→address" when allowed; 1 and the reason on stderr when not.
            Example: moat authcert verify --root root.crt --authcert authcert.pem --address 198.18.1.5 --crl host1.crl --json
            """);
        var roots = new Option<string[]>("--root") { Description = "A trusted root certificate (PEM); repeat for several.", Required = true };
        var authcert = new Option<string>("--authcert") { Description = "The authcert, followed by its chain (PEM), as 'authcert issue' writes it.", Required = true };
        var chain = new Option<string[]>("--chain") { Description = "Extra certificates (PEM) that lead to a root, if not in the authcert file." };
        var address = new Option<string>("--address") { Description = "The address the request wants opened; the authcert must name exactly it." };
        var userKey = new Option<string>("--user-key") { Description = "The requesting user's public key; the authcert must be for it." };
        var crls = new Option<string[]>("--crl") { Description = "A CRL (PEM or DER) from a CA in the path; repeat for several." };
        var json = CliSupport.JsonOption();
        foreach (var option in new Option[] { roots, authcert, chain, address, userKey, crls, json })
        {
            command.Options.Add(option);
        }

        command.SetAction((parseResult, cancellationToken) => CliSupport.RunAsync(parseResult, async output =>
        {
            var rootCertificates = parseResult.GetValue(roots)!.SelectMany(PemFiles.ReadCertificates).ToList();
            var store = new CrlStore();
            foreach (var path in parseResult.GetValue(crls) ?? [])
            {
                store.Add(await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false));
            }

            var presented = PemFiles.ReadCertificates(parseResult.GetValue(authcert)!);
            var chainCertificates = presented.Skip(1).Concat((parseResult.GetValue(chain) ?? []).SelectMany(PemFiles.ReadCertificates)).ToList();
            var requested = parseResult.GetValue(address) is { } a ? CliSupport.ParseAddress(a, "--address") : null;
            var user = parseResult.GetValue(userKey) is { } u ? PemFiles.ReadPublicKey(u).ExportSubjectPublicKeyInfo() : null;

            var verdict = new AuthCertVerifier(rootCertificates, crls: store).Verify(presented[0], chainCertificates, requested, user);
            if (parseResult.GetValue(json))
            {
                await CliSupport.WriteJsonAsync(output, new
                {
                    open = verdict.IsOpen,
                    address = verdict.Address?.ToString(),
                    verdict.ValidFrom,
                    verdict.ValidUntil,
                    verdict.Serial,
                    verdict.IssuerChain,
                    verdict.UserKeyFingerprint,
                    reason = verdict.Reason,
                    verdict.Explanation,
                }).ConfigureAwait(false);
            }
            else if (verdict.IsOpen)
            {
                await output.WriteLineAsync(verdict.Explanation).ConfigureAwait(false);
            }

            if (!verdict.IsOpen)
            {
                await parseResult.InvocationConfiguration.Error.WriteLineAsync(verdict.Explanation).ConfigureAwait(false);
                return 1;
            }

            return 0;
        }));
        return command;
    }
}
