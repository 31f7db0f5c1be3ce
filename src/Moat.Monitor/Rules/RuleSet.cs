using System.Reflection;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Moat.Monitor.Rules;

/// <summary>A rules file (YAML, in the spirit of Falco) that turns exec records into alerts.</summary>
public sealed class RuleSet
{
    internal static readonly string[] Fields =
        ["path", "basename", "argv0", "argv", "sha256", "build_id", "package", "version", "drift", "interpreter", "script", "inline", "sandbox", "sandbox_kind", "client", "verification"];

    private RuleSet(IReadOnlyList<Rule> rules) => Rules = rules;

    public IReadOnlyList<Rule> Rules { get; }

    /// <summary>The rules shipped with Moat: drift, shells in job sandboxes, scripts from /tmp, miners, anonymous execution.</summary>
    public static RuleSet Default()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Moat.Monitor.Rules.default-rules.yaml")
            ?? throw new MonitorException("The default rules resource is missing from the Moat.Monitor assembly.");
        using var reader = new StreamReader(stream);
        return Parse(reader.ReadToEnd(), "default-rules.yaml");
    }

    public static RuleSet Load(string file) => Parse(File.ReadAllText(file), file);

    /// <summary>Parses rules; a mistake becomes a <see cref="RuleFormatException"/> naming the rule and what would be valid.</summary>
    public static RuleSet Parse(string yaml, string source)
    {
        RulesDocument document;
        try
        {
            document = new DeserializerBuilder().WithNamingConvention(UnderscoredNamingConvention.Instance).Build().Deserialize<RulesDocument>(yaml) ?? new RulesDocument();
        }
        catch (YamlException ex)
        {
            throw new RuleFormatException($"The rules file '{source}' is not valid rules YAML at line {ex.Start.Line}: {ex.InnerException?.Message ?? ex.Message}", ex);
        }

        var rules = new List<Rule>();
        foreach (var r in document.Rules)
        {
            if (string.IsNullOrWhiteSpace(r.Rule))
            {
                throw new RuleFormatException($"A rule in '{source}' has no name; every rule needs 'rule: <name>'.");
            }

            var all = (r.Condition?.All ?? []).Select(c => Clause.Compile(c, r.Rule, source)).ToList();
            var any = (r.Condition?.Any ?? []).Select(c => Clause.Compile(c, r.Rule, source)).ToList();
            if (all.Count == 0 && any.Count == 0)
            {
                throw new RuleFormatException($"Rule '{r.Rule}' in '{source}' has an empty condition; give it 'all:' or 'any:' clauses.");
            }

            rules.Add(new Rule(r.Rule, r.Desc ?? r.Rule, r.Priority ?? "warning", all, any));
        }

        return new RuleSet(rules);
    }

    /// <summary>Every alert the rules raise for one exec record.</summary>
    public IEnumerable<AlertRecord> Evaluate(ExecRecord record)
    {
        foreach (var rule in Rules)
        {
            if (rule.Matches(record))
            {
                yield return new AlertRecord(record.Time, record.SandboxId ?? "", rule.Name, rule.Priority, rule.Description, record.Pid, record.Path);
            }
        }
    }

    internal static string? Field(ExecRecord r, string field) => field switch
    {
        "path" => r.Path,
        "basename" => r.Path is null ? null : Path.GetFileName(r.Path),
        "argv0" => r.Argv.Count > 0 ? Path.GetFileName(r.Argv[0]) : null,
        "argv" => r.Argv.Count > 0 ? string.Join(' ', r.Argv) : null,
        "sha256" => r.Sha256,
        "build_id" => r.BuildId,
        "package" => r.PackageName,
        "version" => r.PackageVersion,
        "drift" => r.Drift is null ? null : r.Drift.Value ? "true" : "false",
        "interpreter" => r.Interpreter,
        "script" => r.Script,
        "inline" => r.InlineCode ? "true" : "false",
        "sandbox" => r.SandboxId,
        "sandbox_kind" => r.SandboxKind,
        "client" => r.ClientId,
        "verification" => r.Verification.ToString(),
        _ => null,
    };

    private sealed class RulesDocument
    {
        public List<RuleDocument> Rules { get; set; } = [];
    }

    private sealed class RuleDocument
    {
        public string Rule { get; set; } = "";

        public string? Desc { get; set; }

        public string? Priority { get; set; }

        public ConditionDocument? Condition { get; set; }
    }

    private sealed class ConditionDocument
    {
        public List<ClauseDocument>? All { get; set; }

        public List<ClauseDocument>? Any { get; set; }
    }

    internal sealed class ClauseDocument
    {
        public string Field { get; set; } = "";

        [YamlMember(Alias = "equals")]
        public string? EqualTo { get; set; }

        public List<string>? In { get; set; }

        public string? Startswith { get; set; }

        public string? Endswith { get; set; }

        public string? Contains { get; set; }

        public string? Matches { get; set; }
    }

    /// <summary>A compiled rule.</summary>
    public sealed record Rule(string Name, string Description, string Priority, IReadOnlyList<Clause> All, IReadOnlyList<Clause> Any)
    {
        public bool Matches(ExecRecord record) =>
            All.All(c => c.Matches(record)) && (Any.Count == 0 || Any.Any(c => c.Matches(record)));
    }

    /// <summary>One test of one field.</summary>
    public sealed record Clause(string Field, Func<string, bool> Test)
    {
        public bool Matches(ExecRecord record) => RuleSet.Field(record, Field) is { } value && Test(value);

        internal static Clause Compile(ClauseDocument c, string rule, string source)
        {
            if (!Fields.Contains(c.Field))
            {
                throw new RuleFormatException($"Rule '{rule}' in '{source}' uses field '{c.Field}'; valid fields are {string.Join(", ", Fields)}.");
            }

            var tests = new List<Func<string, bool>>();
            if (c.EqualTo is { } eq)
            {
                tests.Add(v => v == eq);
            }

            if (c.In is { } set)
            {
                tests.Add(set.Contains);
            }

            if (c.Startswith is { } sw)
            {
                tests.Add(v => v.StartsWith(sw, StringComparison.Ordinal));
            }

            if (c.Endswith is { } ew)
            {
                tests.Add(v => v.EndsWith(ew, StringComparison.Ordinal));
            }

            if (c.Contains is { } ct)
            {
                tests.Add(v => v.Contains(ct, StringComparison.Ordinal));
            }

            if (c.Matches is { } pattern)
            {
                Regex regex;
                try
                {
                    regex = new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(50));
                }
                catch (ArgumentException ex)
                {
                    throw new RuleFormatException($"Rule '{rule}' in '{source}' has an invalid regular expression '{pattern}': {ex.Message}", ex);
                }

                tests.Add(regex.IsMatch);
            }

            if (tests.Count != 1)
            {
                throw new RuleFormatException($"Rule '{rule}' in '{source}' has a clause on '{c.Field}' with {tests.Count} operators; give exactly one of equals, in, startswith, endswith, contains, matches.");
            }

            return new Clause(c.Field, tests[0]);
        }
    }
}

/// <summary>A rules file that cannot be used, with one sentence saying why.</summary>
public sealed class RuleFormatException : MonitorException
{
    public RuleFormatException(string message) : base(message, ErrorKind.Invalid) { }

    public RuleFormatException(string message, Exception inner) : base(message, ErrorKind.Invalid, inner) { }
}
