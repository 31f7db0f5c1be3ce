using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Moat.Pki.Storage;

/// <summary>Reads and writes the PEM files the CLI and the host agent keep on disk; private keys are written 0600.</summary>
public static class PemFiles
{
    private const UnixFileMode PrivateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>All certificates in a PEM file (or a single DER certificate), in file order.</summary>
    public static IReadOnlyList<byte[]> ReadCertificates(string path)
    {
        var bytes = ReadAll(path);
        var certificates = AllPem(bytes, "CERTIFICATE");
        if (certificates.Count == 0)
        {
            if (LooksLikeText(bytes))
            {
                throw new PkiInputException($"{path} holds no '-----BEGIN CERTIFICATE-----' block; give a PEM certificate file.");
            }

            return [bytes];
        }

        return certificates;
    }

    public static X509Certificate2 ReadCertificate(string path)
    {
        var der = ReadCertificates(path)[0];
        try
        {
            return X509CertificateLoader.LoadCertificate(der);
        }
        catch (CryptographicException ex)
        {
            throw new PkiInputException($"{path} is not a readable X.509 certificate ({ex.Message}).", ex);
        }
    }

    /// <summary>Reads a PKCS#8, SEC1 ("EC PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY") PEM private key.</summary>
    public static AsymmetricAlgorithm ReadPrivateKey(string path)
    {
        var text = Encoding.ASCII.GetString(ReadAll(path));
        var ec = ECDsa.Create();
        try
        {
            ec.ImportFromPem(text);
            return ec;
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            ec.Dispose();
        }

        var rsa = RSA.Create();
        try
        {
            rsa.ImportFromPem(text);
            return rsa;
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            rsa.Dispose();
            throw new PkiInputException($"{path} holds no ECDSA or RSA private key in PEM ('-----BEGIN PRIVATE KEY-----'); give a key written by 'moat pki'.", ex);
        }
    }

    /// <summary>Reads a public key from a "PUBLIC KEY" PEM, a private key PEM, or a certificate.</summary>
    public static PublicKey ReadPublicKey(string path)
    {
        var bytes = ReadAll(path);
        var text = Encoding.ASCII.GetString(bytes);
        if (AllPem(bytes, "PUBLIC KEY") is [var spki, ..])
        {
            try
            {
                return PublicKey.CreateFromSubjectPublicKeyInfo(spki, out _);
            }
            catch (CryptographicException ex)
            {
                throw new PkiInputException($"{path} holds a PUBLIC KEY block that is not a valid SubjectPublicKeyInfo ({ex.Message}).", ex);
            }
        }

        if (text.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal))
        {
            using var certificate = ReadCertificate(path);
            return certificate.PublicKey;
        }

        if (text.Contains("PRIVATE KEY-----", StringComparison.Ordinal))
        {
            using var key = ReadPrivateKey(path);
            return PublicKey.CreateFromSubjectPublicKeyInfo(key.ExportSubjectPublicKeyInfo(), out _);
        }

        throw new PkiInputException($"{path} holds no public key; give a PEM file with '-----BEGIN PUBLIC KEY-----' (for example from 'moat pki keygen').");
    }

    public static async Task WriteCertificatesAsync(string path, IEnumerable<byte[]> certificates, CancellationToken cancellationToken = default)
    {
        var text = new StringBuilder();
        foreach (var der in certificates)
        {
            text.Append(PemEncoding.Write("CERTIFICATE", der)).Append('\n');
        }

        await File.WriteAllTextAsync(path, text.ToString(), cancellationToken).ConfigureAwait(false);
    }

    public static async Task WritePrivateKeyAsync(string path, AsymmetricAlgorithm key, CancellationToken cancellationToken = default)
    {
        var pem = PemEncoding.Write("PRIVATE KEY", key.ExportPkcs8PrivateKey());
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = PrivateMode;
        }

        await using (var stream = new FileStream(path, options))
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes(new string(pem) + "\n"), cancellationToken).ConfigureAwait(false);
        }

        // UnixCreateMode applies only when the file is created; an existing file is tightened explicitly.
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, PrivateMode);
        }
    }

    public static async Task WritePublicKeyAsync(string path, AsymmetricAlgorithm key, CancellationToken cancellationToken = default) =>
        await File.WriteAllTextAsync(path, new string(PemEncoding.Write("PUBLIC KEY", key.ExportSubjectPublicKeyInfo())) + "\n", cancellationToken).ConfigureAwait(false);

    public static async Task WriteCrlAsync(string path, byte[] crl, CancellationToken cancellationToken = default) =>
        await File.WriteAllTextAsync(path, new string(PemEncoding.Write("X509 CRL", crl)) + "\n", cancellationToken).ConfigureAwait(false);

    /// <summary>The DER inside the first PEM block labelled <paramref name="label"/>, or the input itself when it is binary.</summary>
    public static byte[] DerFromPemOrDer(byte[] data, string label)
    {
        if (AllPem(data, label) is [var first, ..])
        {
            return first;
        }

        if (LooksLikeText(data))
        {
            throw new PkiInputException($"The input holds no '-----BEGIN {label}-----' block and is not DER.");
        }

        return data;
    }

    internal static IReadOnlyList<byte[]> AllPem(byte[] data, string label)
    {
        var text = Encoding.ASCII.GetString(data).AsSpan();
        var found = new List<byte[]>();
        while (PemEncoding.TryFind(text, out var fields))
        {
            if (text[fields.Label].SequenceEqual(label))
            {
                found.Add(Convert.FromBase64String(text[fields.Base64Data].ToString()));
            }

            text = text[fields.Location.End..];
        }

        return found;
    }

    private static bool LooksLikeText(byte[] data) => data.Length > 0 && data[0] != 0x30;

    private static byte[] ReadAll(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new PkiInputException($"Cannot read {path}: {ex.Message}", ex);
        }
    }
}
