namespace Moat.Images.Build;

/// <summary>Reads the host's apt sources (one-line .list and deb822 .sources) to find the mirror apt itself uses.</summary>
internal static class AptSources
{
    /// <summary>The first enabled http(s) "deb" source serving <paramref name="suite"/>, or null.</summary>
    internal static string? FindMirror(string suite, string etcApt = "/etc/apt")
    {
        var files = new List<string>();
        string main = Path.Combine(etcApt, "sources.list");
        if (File.Exists(main))
        {
            files.Add(main);
        }

        string parts = Path.Combine(etcApt, "sources.list.d");
        if (Directory.Exists(parts))
        {
            files.AddRange(Directory.EnumerateFiles(parts)
                .Where(f => f.EndsWith(".list", StringComparison.Ordinal) || f.EndsWith(".sources", StringComparison.Ordinal))
                .Order(StringComparer.Ordinal));
        }

        foreach (string file in files)
        {
            string text = File.ReadAllText(file);
            IEnumerable<(string Uri, IReadOnlyList<string> Suites)> sources = file.EndsWith(".sources", StringComparison.Ordinal)
                ? ParseDeb822(text)
                : ParseOneLine(text);
            foreach (var (uri, suites) in sources)
            {
                if (suites.Contains(suite, StringComparer.Ordinal)
                    && (uri.StartsWith("http://", StringComparison.Ordinal) || uri.StartsWith("https://", StringComparison.Ordinal)))
                {
                    return uri;
                }
            }
        }

        return null;
    }

    internal static IEnumerable<(string Uri, IReadOnlyList<string> Suites)> ParseOneLine(string text)
    {
        foreach (string raw in text.Split('\n'))
        {
            string line = StripComment(raw).Trim();
            if (!line.StartsWith("deb ", StringComparison.Ordinal) && !line.StartsWith("deb\t", StringComparison.Ordinal))
            {
                continue;
            }

            // "deb [arch=amd64 signed-by=…] URI suite component…": options are bracketed and come before the URI.
            string rest = line[3..].Trim();
            if (rest.StartsWith('['))
            {
                int close = rest.IndexOf(']', StringComparison.Ordinal);
                if (close < 0)
                {
                    continue;
                }

                rest = rest[(close + 1)..].Trim();
            }

            string[] fields = rest.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 2)
            {
                yield return (fields[0], [fields[1]]);
            }
        }
    }

    internal static IEnumerable<(string Uri, IReadOnlyList<string> Suites)> ParseDeb822(string text)
    {
        foreach (string stanza in text.Replace("\r", "", StringComparison.Ordinal).Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            string? last = null;
            foreach (string raw in stanza.Split('\n'))
            {
                if (raw.StartsWith('#'))
                {
                    continue;
                }

                if ((raw.StartsWith(' ') || raw.StartsWith('\t')) && last is not null)
                {
                    fields[last] += " " + raw.Trim();
                    continue;
                }

                int colon = raw.IndexOf(':', StringComparison.Ordinal);
                if (colon > 0)
                {
                    last = raw[..colon].Trim();
                    fields[last] = raw[(colon + 1)..].Trim();
                }
            }

            if (fields.TryGetValue("Enabled", out string? enabled) && enabled.Equals("no", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (!fields.TryGetValue("Types", out string? types) || !types.Split(' ').Contains("deb")
                || !fields.TryGetValue("URIs", out string? uris) || !fields.TryGetValue("Suites", out string? suites))
            {
                continue;
            }

            string[] suiteList = suites.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            foreach (string uri in uris.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                yield return (uri, suiteList);
            }
        }
    }

    private static string StripComment(string line)
    {
        int hash = line.IndexOf('#', StringComparison.Ordinal);
        return hash < 0 ? line : line[..hash];
    }
}
