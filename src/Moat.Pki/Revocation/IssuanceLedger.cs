using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Moat.Pki.Revocation;

/// <summary>One certificate a CA issued, as its ledger remembers it.</summary>
public sealed record IssuedEntry(string Serial, string Kind, string? Address, DateTimeOffset NotAfter, DateTimeOffset? RevokedAt);

/// <summary>
/// A CA's record of what it issued and what it revoked, so "revoke everything for this address" is possible and
/// the CRL can be rebuilt; persisted as JSON beside the CA certificate.
/// </summary>
public sealed class IssuanceLedger
{
    private readonly Lock _lock = new();
    private readonly List<IssuedEntry> _entries = [];

    public long CrlNumber { get; private set; }

    public IReadOnlyList<IssuedEntry> Entries
    {
        get
        {
            lock (_lock)
            {
                return [.. _entries];
            }
        }
    }

    public void Record(string serial, string kind, IPAddress? address, DateTimeOffset notAfter)
    {
        lock (_lock)
        {
            _entries.Add(new IssuedEntry(serial, kind, address?.ToString(), notAfter, null));
        }
    }

    /// <summary>Marks every unexpired, unrevoked certificate for <paramref name="address"/> revoked; returns how many.</summary>
    public int RevokeAddress(IPAddress address, DateTimeOffset now) =>
        Revoke(e => e.Address is { } a && IPAddress.Parse(a).Equals(address), now);

    /// <summary>Marks the certificate with <paramref name="serial"/> (hex) revoked; returns 1, or 0 when it is unknown, expired or already revoked.</summary>
    public int RevokeSerial(string serial, DateTimeOffset now) =>
        Revoke(e => string.Equals(e.Serial, serial, StringComparison.OrdinalIgnoreCase), now);

    /// <summary>The revoked certificates a CRL must still list: expired ones are dropped, expiry covers them.</summary>
    public IReadOnlyList<IssuedEntry> RevokedUnexpired(DateTimeOffset now)
    {
        lock (_lock)
        {
            return [.. _entries.Where(e => e.RevokedAt is not null && e.NotAfter >= now)];
        }
    }

    public long NextCrlNumber()
    {
        lock (_lock)
        {
            return ++CrlNumber;
        }
    }

    /// <summary>Forgets certificates that expired before <paramref name="now"/>, keeping the ledger bounded.</summary>
    public void Prune(DateTimeOffset now)
    {
        lock (_lock)
        {
            _entries.RemoveAll(e => e.NotAfter < now);
        }
    }

    public static async Task<IssuanceLedger> LoadAsync(string path, CancellationToken cancellationToken = default)
    {
        var ledger = new IssuanceLedger();
        if (!File.Exists(path))
        {
            return ledger;
        }

        try
        {
            await using var stream = File.OpenRead(path);
            var state = await JsonSerializer.DeserializeAsync(stream, LedgerJson.Default.LedgerState, cancellationToken).ConfigureAwait(false)
                ?? throw new PkiInputException($"{path} is empty; it should be a ledger written by 'moat pki'.");
            ledger.CrlNumber = state.CrlNumber;
            ledger._entries.AddRange(state.Entries);
            return ledger;
        }
        catch (JsonException ex)
        {
            throw new PkiInputException($"{path} is not a ledger written by 'moat pki' ({ex.Message}).", ex);
        }
    }

    public async Task SaveAsync(string path, CancellationToken cancellationToken = default)
    {
        LedgerState state;
        lock (_lock)
        {
            state = new LedgerState(CrlNumber, [.. _entries]);
        }

        // Write-then-rename so a crash never leaves a half-written ledger (which would forget revocations).
        var temporary = path + ".tmp";
        await using (var stream = File.Create(temporary))
        {
            await JsonSerializer.SerializeAsync(stream, state, LedgerJson.Default.LedgerState, cancellationToken).ConfigureAwait(false);
        }

        File.Move(temporary, path, overwrite: true);
    }

    private int Revoke(Func<IssuedEntry, bool> match, DateTimeOffset now)
    {
        lock (_lock)
        {
            var count = 0;
            for (var i = 0; i < _entries.Count; i++)
            {
                var e = _entries[i];
                if (e.RevokedAt is null && e.NotAfter >= now && match(e))
                {
                    _entries[i] = e with { RevokedAt = now };
                    count++;
                }
            }

            return count;
        }
    }
}

internal sealed record LedgerState(long CrlNumber, List<IssuedEntry> Entries);

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(LedgerState))]
internal sealed partial class LedgerJson : JsonSerializerContext;
