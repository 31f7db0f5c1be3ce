using System.CommandLine;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Moat.Pki.Authority;
using Moat.Pki.Revocation;
using Moat.Pki.Storage;

namespace Moat.Pki.Cli;

/// <summary>The `moat pki` verbs: create the root, issue node and host CA certificates, revoke, publish CRLs.</summary>
public static class PkiCommands
{
    public static Command Create()
    {
        var pki = new Command("pki", "Manage the Moat certificate authority: the root that binds nodes' addresses to their keys, and surrogate hosts' CAs.");
        pki.Subcommands.Add(Init());
        pki.Subcommands.Add(HostCa());
        pki.Subcommands.Add(NodeCert());
        pki.Subcommands.Add(KeyGen());
        pki.Subcommands.Add(Revoke());
        pki.Subcommands.Add(Crl());
        return pki;
    }

    private static Command Init()
    {
        var command = new Command("init", """
            Create the root CA: a new ECDSA P-256 key (written 0600) and a self-signed certificate.
            Example: moat pki init --name "Moat root" --cert root.crt --key root.key --lifetime 3650d
            """);
        var name = new Option<string>("--name") { Description = "Subject common name of the root.", DefaultValueFactory = _ => "Moat root" };
        var cert = new Option<string>("--cert") { Description = "Where to write the root certificate (PEM).", DefaultValueFactory = _ => "root.crt" };
        var key = new Option<string>("--key") { Description = "Where to write the root private key (PEM, mode 0600).", DefaultValueFactory = _ => "root.key" };
        var lifetime = new Option<string>("--lifetime") { Description = "How long the root is valid (s, m, h or d).", DefaultValueFactory = _ => "3650d" };
        var json = CliSupport.JsonOption();
        command.Options.Add(name);
        command.Options.Add(cert);
        command.Options.Add(key);
        command.Options.Add(lifetime);
        command.Options.Add(json);
        command.SetAction((parseResult, cancellationToken) => CliSupport.RunAsync(parseResult, async output =>
        {
            var certPath = parseResult.GetValue(cert)!;
            var keyPath = parseResult.GetValue(key)!;
            if (File.Exists(keyPath))
            {
                throw new PkiInputException($"--key {keyPath} already exists; refusing to overwrite a CA key, choose another path or remove it first.");
            }

            using var root = CertificateAuthority.CreateRoot(parseResult.GetValue(name)!, CliSupport.ParseDuration(parseResult.GetValue(lifetime)!, "--lifetime"));
            await PemFiles.WritePrivateKeyAsync(keyPath, root.PrivateKey, cancellationToken).ConfigureAwait(false);
            await PemFiles.WriteCertificatesAsync(certPath, [root.Certificate.RawData], cancellationToken).ConfigureAwait(false);
            await Report(output, parseResult.GetValue(json), root.Certificate, certPath, keyPath).ConfigureAwait(false);
            return 0;
        }));
        return command;
    }

    private static Command HostCa()
    {
        var command = new Command("host-ca", """
            Issue a surrogate host's intermediate CA: basicConstraints CA with pathLen 0 and name constraints whose permitted
            iPAddress subtrees are exactly the prefixes the host may allocate to its sandboxes.
            Example: moat pki host-ca --ca-cert root.crt --ca-key root.key --name host1 --prefix 198.18.0.0/16 --cert host1.crt --key host1.key
            """);
        var (caCert, caKey) = IssuerOptions(command);
        var name = new Option<string>("--name") { Description = "Subject common name of the host.", Required = true };
        var prefixes = new Option<string[]>("--prefix") { Description = "An address prefix the host may allocate; repeat for several.", Required = true };
        var addresses = new Option<string[]>("--address") { Description = "The host's own address(es), named in its IP SANs (optional)." };
        var (cert, key, publicKey) = SubjectOptions(command);
        var lifetime = new Option<string>("--lifetime") { Description = "How long the host CA is valid.", DefaultValueFactory = _ => "365d" };
        var json = CliSupport.JsonOption();
        command.Options.Add(name);
        command.Options.Add(prefixes);
        command.Options.Add(addresses);
        command.Options.Add(lifetime);
        command.Options.Add(json);
        command.SetAction((parseResult, cancellationToken) => CliSupport.RunAsync(parseResult, async output =>
        {
            var prefixList = parseResult.GetValue(prefixes)!.Select(p => CliSupport.ParsePrefix(p, "--prefix")).ToList();
            var addressList = (parseResult.GetValue(addresses) ?? []).Select(a => CliSupport.ParseAddress(a, "--address")).ToList();
            var span = CliSupport.ParseDuration(parseResult.GetValue(lifetime)!, "--lifetime");
            return await IssueAsync(parseResult, caCert, caKey, cert, key, publicKey, json, "host-ca", null, output,
                (authority, subjectKey) => authority.IssueHostCa(parseResult.GetValue(name)!, subjectKey, prefixList, addressList, span),
                cancellationToken).ConfigureAwait(false);
        }));
        return command;
    }

    private static Command NodeCert()
    {
        var command = new Command("node-cert", """
            Issue a node certificate binding the node's IP addresses to its key. The node may sign authcerts naming
            those addresses (it is a CA with pathLen 0 constrained to exactly its addresses).
            Example: moat pki node-cert --ca-cert root.crt --ca-key root.key --name A --address 198.18.1.5 --cert A.crt --key A.key
            """);
        var (caCert, caKey) = IssuerOptions(command);
        var name = new Option<string>("--name") { Description = "Subject common name of the node.", Required = true };
        var addresses = new Option<string[]>("--address") { Description = "An address of the node; repeat for several.", Required = true };
        var (cert, key, publicKey) = SubjectOptions(command);
        var lifetime = new Option<string>("--lifetime") { Description = "How long the node certificate is valid.", DefaultValueFactory = _ => "90d" };
        var json = CliSupport.JsonOption();
        command.Options.Add(name);
        command.Options.Add(addresses);
        command.Options.Add(lifetime);
        command.Options.Add(json);
        command.SetAction((parseResult, cancellationToken) => CliSupport.RunAsync(parseResult, async output =>
        {
            var addressList = parseResult.GetValue(addresses)!.Select(a => CliSupport.ParseAddress(a, "--address")).ToList();
            var span = CliSupport.ParseDuration(parseResult.GetValue(lifetime)!, "--lifetime");
            return await IssueAsync(parseResult, caCert, caKey, cert, key, publicKey, json, "node", addressList.Count == 1 ? addressList[0] : null, output,
                (authority, subjectKey) => authority.IssueNodeCertificate(parseResult.GetValue(name)!, subjectKey, addressList, span),
                cancellationToken).ConfigureAwait(false);
        }));
        return command;
    }

    private static Command KeyGen()
    {
        var command = new Command("keygen", """
            Create an ECDSA P-256 key pair, e.g. a user's key for authcerts: private key 0600, public key as PEM.
            Example: moat pki keygen --key user.key --public user.pub
            """);
        var key = new Option<string>("--key") { Description = "Where to write the private key (PEM, mode 0600).", Required = true };
        var pub = new Option<string>("--public") { Description = "Where to write the public key (PEM).", Required = true };
        command.Options.Add(key);
        command.Options.Add(pub);
        command.SetAction((parseResult, cancellationToken) => CliSupport.RunAsync(parseResult, async output =>
        {
            using var pair = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            await PemFiles.WritePrivateKeyAsync(parseResult.GetValue(key)!, pair, cancellationToken).ConfigureAwait(false);
            await PemFiles.WritePublicKeyAsync(parseResult.GetValue(pub)!, pair, cancellationToken).ConfigureAwait(false);
            await output.WriteLineAsync($"wrote {parseResult.GetValue(key)} and {parseResult.GetValue(pub)}").ConfigureAwait(false);
            return 0;
        }));
        return command;
    }

    private static Command Revoke()
    {
        var command = new Command("revoke", """
            Revoke certificates this CA issued: every unexpired one for an address (a destroyed sandbox), or one serial.
            Then publish a new CRL with 'moat pki crl'. The CA's ledger is <ca-cert>.ledger.json unless --ledger is given.
            Example: moat pki revoke --ca-cert host1.crt --ca-key host1.key --address 198.18.1.5
            """);
        var (caCert, caKey) = IssuerOptions(command);
        var address = new Option<string>("--address") { Description = "Revoke every certificate naming this address." };
        var serial = new Option<string>("--serial") { Description = "Revoke the certificate with this serial number (hex)." };
        var ledger = new Option<string>("--ledger") { Description = "The CA's issuance ledger (JSON)." };
        var json = CliSupport.JsonOption();
        command.Options.Add(address);
        command.Options.Add(serial);
        command.Options.Add(ledger);
        command.Options.Add(json);
        command.SetAction((parseResult, cancellationToken) => CliSupport.RunAsync(parseResult, async output =>
        {
            var addressText = parseResult.GetValue(address);
            var serialText = parseResult.GetValue(serial);
            if ((addressText is null) == (serialText is null))
            {
                throw new PkiInputException("Give exactly one of --address (for example 198.18.1.5) or --serial (hex, as printed when issued).");
            }

            var caCertPath = parseResult.GetValue(caCert)!;
            var ledgerPath = parseResult.GetValue(ledger) ?? CliSupport.LedgerPathFor(caCertPath);
            using var host = await HostAuthority.LoadAsync(caCertPath, parseResult.GetValue(caKey)!, ledgerPath, cancellationToken: cancellationToken).ConfigureAwait(false);
            var count = addressText is not null
                ? host.RevokeAddress(CliSupport.ParseAddress(addressText, "--address"))
                : host.Ledger.RevokeSerial(serialText!.Replace(":", "", StringComparison.Ordinal), TimeProvider.System.GetUtcNow());
            await host.Ledger.SaveAsync(ledgerPath, cancellationToken).ConfigureAwait(false);
            if (parseResult.GetValue(json))
            {
                await CliSupport.WriteJsonAsync(output, new { revoked = count, ledger = ledgerPath }).ConfigureAwait(false);
            }
            else
            {
                await output.WriteLineAsync($"revoked {count} certificate(s); publish the change with 'moat pki crl'").ConfigureAwait(false);
            }

            return 0;
        }));
        return command;
    }

    private static Command Crl()
    {
        var command = new Command("crl", """
            Sign and write this CA's certificate revocation list (PEM) listing every revoked, unexpired certificate.
            Verifying hosts load it with 'moat authcert verify --crl'. Reissue before --validity runs out.
            Example: moat pki crl --ca-cert host1.crt --ca-key host1.key --out host1.crl --validity 1h
            """);
        var (caCert, caKey) = IssuerOptions(command);
        var outPath = new Option<string>("--out") { Description = "Where to write the CRL (PEM).", Required = true };
        var validity = new Option<string>("--validity") { Description = "Time until the CRL's nextUpdate.", DefaultValueFactory = _ => "1h" };
        var ledger = new Option<string>("--ledger") { Description = "The CA's issuance ledger (JSON)." };
        var json = CliSupport.JsonOption();
        command.Options.Add(outPath);
        command.Options.Add(validity);
        command.Options.Add(ledger);
        command.Options.Add(json);
        command.SetAction((parseResult, cancellationToken) => CliSupport.RunAsync(parseResult, async output =>
        {
            var caCertPath = parseResult.GetValue(caCert)!;
            var ledgerPath = parseResult.GetValue(ledger) ?? CliSupport.LedgerPathFor(caCertPath);
            using var host = await HostAuthority.LoadAsync(caCertPath, parseResult.GetValue(caKey)!, ledgerPath, cancellationToken: cancellationToken).ConfigureAwait(false);
            var crl = host.BuildCrl(CliSupport.ParseDuration(parseResult.GetValue(validity)!, "--validity"));
            await host.Ledger.SaveAsync(ledgerPath, cancellationToken).ConfigureAwait(false);
            await PemFiles.WriteCrlAsync(parseResult.GetValue(outPath)!, crl, cancellationToken).ConfigureAwait(false);
            var listed = host.Ledger.RevokedUnexpired(TimeProvider.System.GetUtcNow()).Count;
            if (parseResult.GetValue(json))
            {
                await CliSupport.WriteJsonAsync(output, new { crlNumber = host.Ledger.CrlNumber, revoked = listed, path = parseResult.GetValue(outPath) }).ConfigureAwait(false);
            }
            else
            {
                await output.WriteLineAsync($"wrote CRL #{host.Ledger.CrlNumber} listing {listed} certificate(s) to {parseResult.GetValue(outPath)}").ConfigureAwait(false);
            }

            return 0;
        }));
        return command;
    }

    private static (Option<string> Cert, Option<string> Key) IssuerOptions(Command command)
    {
        var cert = new Option<string>("--ca-cert") { Description = "The issuing CA's certificate (PEM).", Required = true };
        var key = new Option<string>("--ca-key") { Description = "The issuing CA's private key (PEM).", Required = true };
        command.Options.Add(cert);
        command.Options.Add(key);
        return (cert, key);
    }

    private static (Option<string> Cert, Option<string> Key, Option<string> PublicKey) SubjectOptions(Command command)
    {
        var cert = new Option<string>("--cert") { Description = "Where to write the new certificate (PEM).", Required = true };
        var key = new Option<string>("--key") { Description = "Where to write the new private key (PEM, 0600); not used with --public-key." };
        var publicKey = new Option<string>("--public-key") { Description = "Certify this existing public key (PEM) instead of creating a key pair." };
        command.Options.Add(cert);
        command.Options.Add(key);
        command.Options.Add(publicKey);
        return (cert, key, publicKey);
    }

    private static async Task<int> IssueAsync(
        ParseResult parseResult,
        Option<string> caCert,
        Option<string> caKey,
        Option<string> cert,
        Option<string> key,
        Option<string> publicKey,
        Option<bool> json,
        string kind,
        System.Net.IPAddress? address,
        TextWriter output,
        Func<CertificateAuthority, PublicKey, X509Certificate2> issue,
        CancellationToken cancellationToken)
    {
        var keyPath = parseResult.GetValue(key);
        var publicKeyPath = parseResult.GetValue(publicKey);
        if ((keyPath is null) == (publicKeyPath is null))
        {
            throw new PkiInputException("Give exactly one of --key (a new key pair is created and written there) or --public-key (certify an existing key).");
        }

        var caCertPath = parseResult.GetValue(caCert)!;
        var ledgerPath = CliSupport.LedgerPathFor(caCertPath);
        using var issuer = await HostAuthority.LoadAsync(caCertPath, parseResult.GetValue(caKey)!, ledgerPath, cancellationToken: cancellationToken).ConfigureAwait(false);
        using var newKey = keyPath is null ? null : ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var subjectKey = newKey is null
            ? PemFiles.ReadPublicKey(publicKeyPath!)
            : PublicKey.CreateFromSubjectPublicKeyInfo(newKey.ExportSubjectPublicKeyInfo(), out _);
        using var certificate = issue(issuer.Authority, subjectKey);
        issuer.Ledger.Record(certificate.SerialNumber, kind, address, new DateTimeOffset(certificate.NotAfter.ToUniversalTime()));
        await issuer.Ledger.SaveAsync(ledgerPath, cancellationToken).ConfigureAwait(false);
        if (newKey is not null)
        {
            await PemFiles.WritePrivateKeyAsync(keyPath!, newKey, cancellationToken).ConfigureAwait(false);
        }

        var certPath = parseResult.GetValue(cert)!;
        await PemFiles.WriteCertificatesAsync(certPath, [certificate.RawData], cancellationToken).ConfigureAwait(false);
        await Report(output, parseResult.GetValue(json), certificate, certPath, keyPath).ConfigureAwait(false);
        return 0;
    }

    private static Task Report(TextWriter output, bool json, X509Certificate2 certificate, string certPath, string? keyPath) =>
        json
            ? CliSupport.WriteJsonAsync(output, new
            {
                subject = certificate.Subject,
                serial = certificate.SerialNumber,
                notBefore = new DateTimeOffset(certificate.NotBefore.ToUniversalTime()),
                notAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime()),
                certificate = certPath,
                key = keyPath,
            })
            : output.WriteLineAsync($"wrote {certPath}{(keyPath is null ? "" : $" and {keyPath}")}: {certificate.Subject}, serial {certificate.SerialNumber}, valid until {certificate.NotAfter.ToUniversalTime():u}");
}
