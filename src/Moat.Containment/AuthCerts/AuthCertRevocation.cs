using System.Net;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Moat.Containment.Rules;
using Moat.Pki.AuthCerts;
using Moat.Pki.Revocation;
using Moat.Pki.Validation;

namespace Moat.Containment.AuthCerts;

/// <summary>Where revocation of authcert openings reads its CRLs and keeps each opening's certificate.</summary>
/// <param name="Crls">The store the agent's <see cref="AuthCertVerifier"/> checks new authcerts against; filled here.</param>
/// <param name="CrlPath">A CRL file, or a folder of CRL files (PEM or DER); null: no CRLs, an opening ends at notAfter only.</param>
/// <param name="OpeningsDir">Where each opening's certificate is kept (0600 files in 0700 folders), so that an agent
/// restart still knows which certificate opened what.</param>
public sealed record AuthCertRevocationOptions(CrlStore Crls, string? CrlPath, string OpeningsDir);

/// <summary>
/// Revocation of authcert openings: the CRLs are read at start and again whenever their file or folder changes, and
/// every opening whose certificate a CRL now revokes is removed from the kernel (its nftables element), unless another
/// certificate still valid opens the same address. A CRL that cannot be read keeps the lists already in force.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed partial class AuthCertRevocation : IDisposable
{
    private const UnixFileMode Folder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(200);
    private readonly AuthCertRevocationOptions _options;
    private readonly ContainmentRules _rules;
    private readonly ILogger? _logger;
    private readonly Lock _lock = new();
    private FileSystemWatcher? _watcher;
    private Timer? _debounce;
    private AuthCertVerifier? _verifier;

    /// <exception cref="ContainmentInputException">A CRL at the path cannot be read or parsed.</exception>
    public AuthCertRevocation(AuthCertRevocationOptions options, ContainmentRules rules, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
        _rules = rules;
        _logger = logger;
        Directory.CreateDirectory(options.OpeningsDir, Folder);
        File.SetUnixFileMode(options.OpeningsDir, Folder);
        try
        {
            Load();
        }
        catch (Exception e) when (IsUnreadable(e))
        {
            throw new ContainmentInputException($"The CRLs at '{options.CrlPath}' cannot be read ({e.Message}); give a CRL file or a folder of CRLs (PEM or DER) as the CA published them.");
        }
    }

    /// <summary>Raised after the CRLs were read again, with the openings that closed (sandbox id, address).</summary>
    public event Action<IReadOnlyList<(string SandboxId, IPAddress Address)>>? Reloaded;

    /// <summary>Checks the recorded openings with <paramref name="verifier"/> (built on the options' store), closes what
    /// is already revoked, and watches the CRL path. Call once the sandboxes' sets exist (after reconcile).</summary>
    public void Start(AuthCertVerifier verifier)
    {
        _verifier = verifier;
        CloseRevoked();
        if (_options.CrlPath is not { } path || _watcher is not null)
        {
            return;
        }

        var folder = Directory.Exists(path) ? path : Path.GetDirectoryName(Path.GetFullPath(path))!;
        _debounce = new Timer(_ => ReloadQuietly(), null, Timeout.Infinite, Timeout.Infinite);
        _watcher = new FileSystemWatcher(folder)
        {
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
        };
        FileSystemEventHandler changed = (_, _) => _debounce.Change(Debounce, Timeout.InfiniteTimeSpan);
        _watcher.Changed += changed;
        _watcher.Created += changed;
        _watcher.Renamed += (_, _) => _debounce.Change(Debounce, Timeout.InfiniteTimeSpan);
        _watcher.EnableRaisingEvents = true;
    }

    /// <summary>Reads the CRLs again and closes every opening they now revoke; returns those openings.</summary>
    public IReadOnlyList<(string SandboxId, IPAddress Address)> Reload()
    {
        try
        {
            Load();
        }
        catch (Exception e) when (IsUnreadable(e))
        {
            if (_logger is not null)
            {
                LogCrlUnreadable(_logger, _options.CrlPath ?? "", e.Message);
            }

            return [];
        }

        var closed = CloseRevoked();
        Reloaded?.Invoke(closed);
        return closed;
    }

    /// <summary>The watcher's reload: a failure is logged (the openings already closed stay closed), never thrown on
    /// the timer's thread.</summary>
    private void ReloadQuietly()
    {
        try
        {
            Reload();
        }
        catch (Exception e) when (e is ContainmentException || IsUnreadable(e))
        {
            if (_logger is not null)
            {
                LogCloseFailed(_logger, e.Message);
            }
        }
    }

    /// <summary>Keeps the certificate that opened <paramref name="address"/> to a sandbox.</summary>
    public void Record(string sandboxId, IPAddress address, string pem)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(pem);
        var folder = Path.Combine(_options.OpeningsDir, sandboxId);
        lock (_lock)
        {
            Directory.CreateDirectory(folder, Folder);
            var name = $"{address}-{Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(pem)))[..16]}.pem";
            var path = Path.Combine(folder, name);
            var temp = path + ".tmp";
            using (var file = new FileStream(temp, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite }))
            using (var writer = new StreamWriter(file))
            {
                writer.Write(pem);
            }

            File.Move(temp, path, overwrite: true);
        }
    }

    /// <summary>The sandbox is gone: its openings' certificates go too.</summary>
    public void Forget(string sandboxId)
    {
        var folder = Path.Combine(_options.OpeningsDir, sandboxId);
        lock (_lock)
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    public void Dispose()
    {
        _watcher?.Dispose();
        _debounce?.Dispose();
    }

    private void Load()
    {
        if (_options.CrlPath is not { } path)
        {
            return;
        }

        var files = Directory.Exists(path)
            ? Directory.EnumerateFiles(path).Where(f => !Path.GetFileName(f).StartsWith('.')).Order(StringComparer.Ordinal).ToList()
            : [path];

        // Every file is parsed before any goes in force, so that a half-written CRL changes nothing.
        var parsed = new CrlStore();
        var lists = files.Select(File.ReadAllBytes).ToList();
        foreach (var der in lists)
        {
            parsed.Add(der);
        }

        foreach (var der in lists)
        {
            _options.Crls.Add(der);
        }
    }

    private List<(string SandboxId, IPAddress Address)> CloseRevoked()
    {
        var closed = new List<(string, IPAddress)>();
        if (_verifier is not { } verifier)
        {
            return closed;
        }

        var live = _rules.Sandboxes.Select(s => s.Id).ToHashSet(StringComparer.Ordinal);
        lock (_lock)
        {
            foreach (var folder in Directory.EnumerateDirectories(_options.OpeningsDir))
            {
                var id = Path.GetFileName(folder);
                if (!live.Contains(id))
                {
                    // A sandbox destroyed while the agent was down: its chain and sets are gone, and so are its openings.
                    Directory.Delete(folder, recursive: true);
                    continue;
                }
                var verdicts = Directory.EnumerateFiles(folder, "*.pem").Select(file => (File: file, Verdict: verifier.VerifyPem(File.ReadAllText(file)))).ToList();
                foreach (var byAddress in verdicts.Where(v => v.Verdict.Address is not null).GroupBy(v => v.Verdict.Address!))
                {
                    var revoked = byAddress.FirstOrDefault(v => v.Verdict.Reason == RefusalReason.Revoked).Verdict;
                    if (revoked is null)
                    {
                        continue;
                    }

                    _rules.CloseDestination(id, byAddress.Key, port: null);
                    if (byAddress.Where(v => v.Verdict.IsOpen).Select(v => v.Verdict.ValidUntil).Max() is { } still)
                    {
                        // Another certificate, not revoked, opens the same address: its opening is put back.
                        _rules.OpenDestination(id, byAddress.Key, port: null, still);
                        continue;
                    }

                    closed.Add((id, byAddress.Key));
                    if (_logger is not null)
                    {
                        LogClosed(_logger, id, byAddress.Key.ToString(), revoked.Serial ?? "?");
                    }
                }

                // A revoked or expired certificate opens nothing any more: its file goes.
                foreach (var (file, _) in verdicts.Where(v => v.Verdict.Reason is RefusalReason.Revoked or RefusalReason.Expired))
                {
                    File.Delete(file);
                }
            }
        }

        return closed;
    }

    private static bool IsUnreadable(Exception e) =>
        e is IOException or UnauthorizedAccessException or CryptographicException or FormatException or InvalidDataException or ArgumentException or Moat.Pki.PkiException;

    [LoggerMessage(EventId = 3410, Level = LogLevel.Warning, Message = "Closed the authcert opening of sandbox {Id} to {Address}: certificate {Serial} is revoked")]
    private static partial void LogClosed(ILogger logger, string id, string address, string serial);

    [LoggerMessage(EventId = 3412, Level = LogLevel.Error, Message = "Closing revoked authcert openings failed: {Reason}")]
    private static partial void LogCloseFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 3411, Level = LogLevel.Warning, Message = "The CRLs at {Path} cannot be read ({Reason}); the lists already in force stay")]
    private static partial void LogCrlUnreadable(ILogger logger, string path, string reason);
}
