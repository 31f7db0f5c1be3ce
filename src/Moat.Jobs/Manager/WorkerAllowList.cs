using Moat.Xmpp.Client;

namespace Moat.Jobs.Manager;

/// <summary>
/// Which accounts a manager takes as workers: bare JIDs named by the operator, and the members of roster groups of the
/// manager's own account (<c>group:NAME</c>), which the operator edits from any XMPP client logged in as the manager.
/// Accounts are compared bare, so every resource of an allowed account is allowed and no other account is.
/// </summary>
internal sealed class WorkerAllowList
{
    public const string GroupPrefix = "group:";

    private readonly HashSet<string> jids = new(StringComparer.Ordinal);
    private readonly HashSet<string> groups = new(StringComparer.Ordinal);
    private volatile HashSet<string> groupMembers = new(StringComparer.Ordinal);

    public WorkerAllowList(IEnumerable<string> entries)
    {
        foreach (var entry in entries)
        {
            if (Describe(entry) is { } problem)
            {
                throw new ArgumentException(problem, nameof(entries));
            }

            if (entry.StartsWith(GroupPrefix, StringComparison.Ordinal))
            {
                groups.Add(entry[GroupPrefix.Length..]);
            }
            else
            {
                jids.Add(Jid.Parse(entry).ToString());
            }
        }
    }

    /// <summary>True when nothing is allowed (no JID and no group named).</summary>
    public bool IsEmpty => jids.Count == 0 && groups.Count == 0;

    /// <summary>True when roster groups decide some of the members (the roster must be read and followed).</summary>
    public bool UsesGroups => groups.Count > 0;

    /// <summary>One sentence naming what is wrong with an allow-list entry, or null when it is valid.</summary>
    public static string? Describe(string entry)
    {
        if (string.IsNullOrWhiteSpace(entry))
        {
            return "A worker allow-list entry is empty: give a bare JID (worker@moat.test) or a roster group (group:workers).";
        }

        if (entry.StartsWith(GroupPrefix, StringComparison.Ordinal))
        {
            return entry.Length == GroupPrefix.Length
                ? $"'{entry}' names no group: write group:NAME with the roster group of the manager's account."
                : null;
        }

        Jid jid;
        try
        {
            jid = Jid.Parse(entry);
        }
        catch (FormatException)
        {
            return $"'{entry}' is not a JID: give a bare JID (worker@moat.test) or a roster group (group:workers).";
        }

        return jid.Local is null || jid.Resource is not null
            ? $"'{entry}' is not a bare account JID: give local@domain without a resource (worker@moat.test), or group:NAME."
            : null;
    }

    /// <summary>Whether the account of <paramref name="jid"/> (any resource) may be a worker.</summary>
    public bool Allows(Jid jid)
    {
        string bare = jid.Bare.ToString();
        return jids.Contains(bare) || groupMembers.Contains(bare);
    }

    /// <summary>Takes the manager's roster as it is now: the members of the named groups become allowed, others not.
    /// Returns the accounts that were not allowed before.</summary>
    public IReadOnlyList<string> SetRoster(IEnumerable<RosterItem> roster)
    {
        var members = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in roster)
        {
            if (item.Groups.Any(groups.Contains) && TryBare(item.Jid, out var bare))
            {
                members.Add(bare);
            }
        }

        var added = members.Where(m => !groupMembers.Contains(m)).ToList();
        groupMembers = members;
        return added;
    }

    private static bool TryBare(string text, out string bare)
    {
        try
        {
            bare = Jid.Parse(text).Bare.ToString();
            return true;
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            bare = string.Empty;
            return false;
        }
    }
}
