using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.RepresentationModel;

namespace Moat.Containment.Policy;

public static partial class PolicyParser
{
    /// <summary>A policy is five levels deep; anything far deeper is refused before the (recursive) tree is built.</summary>
    internal const int MaxNesting = 64;

    /// <summary>
    /// Loads the YAML tree, refusing with a PolicyException on any syntax error, including the few YamlDotNet reports
    /// as InvalidOperationException or ArgumentException instead of YamlException, and on nesting deep enough to
    /// overflow the stack of YamlDotNet's recursive tree builder (which would end the process, not just the reload).
    /// </summary>
    private static YamlStream LoadYaml(string yaml, string source)
    {
        try
        {
            CheckNesting(yaml, source);
            var stream = new YamlStream();
            stream.Load(new StringReader(yaml));
            return stream;
        }
        catch (YamlException e)
        {
            throw new PolicyException(source, e.Start.Line, "(syntax)", $"this is not valid YAML ({FirstSentence(e.Message)}); fix the indentation or quoting there.");
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException && e.TargetSite?.DeclaringType?.Assembly == typeof(YamlStream).Assembly)
        {
            throw new PolicyException(source, 0, "(syntax)", $"this is not valid YAML ({FirstSentence(e.Message)}); check the tags, brackets and quoting.");
        }
    }

    /// <summary>Walks the parser's events (no recursion) and refuses collections nested deeper than <see cref="MaxNesting"/>.</summary>
    private static void CheckNesting(string yaml, string source)
    {
        var parser = new Parser(new StringReader(yaml));
        int depth = 0;
        while (parser.MoveNext())
        {
            switch (parser.Current)
            {
                case SequenceStart or MappingStart when ++depth > MaxNesting:
                    throw new PolicyException(source, parser.Current.Start.Line, "(syntax)", $"lists and mappings are nested deeper than {MaxNesting} levels; a policy needs at most five.");
                case SequenceEnd or MappingEnd:
                    depth--;
                    break;
            }
        }
    }
}
