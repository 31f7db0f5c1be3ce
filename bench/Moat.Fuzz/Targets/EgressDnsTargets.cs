using Moat.Containment.Dns;
using Moat.Fuzz.Engine;

namespace Moat.Fuzz.Targets;

/// <summary>The egress resolver's DNS codec: tenant queries and upstream answers (src/Moat.Containment/Dns).</summary>
internal static class EgressDnsTargets
{
    public static FuzzTarget Codec() => new()
    {
        Name = "egress-dns",
        Parser = "DnsMessage.TryParse, then DnsWriter.Answer of what it read, read back",
        MaxLength = 4096,
        Seeds = () => [Query("api.example.org", 1), Query("a.b.example.net", 28), Answer(), AnswerWithCname()],
        Dictionary = [[0xc0, 0x0c], [0xc0, 0x00], [0x3f], [0x40], [0x00], [0x00, 0x01, 0x00, 0x01], [0x00, 0x05, 0x00, 0x01], [0xff, 0xff], [0x81, 0x80], [0x83, 0x80]],
        Run = input =>
        {
            if (DnsMessage.TryParse(input, out var message) != DnsParseError.None || message!.Question is not { } question)
            {
                return;
            }

            // Whatever the parser accepts, the writer must write, and the parser must read back (the resolver's answer
            // is made of exactly these parts).
            var answer = DnsWriter.Answer(message.Id, message.RecursionDesired, question, DnsResponseCode.NoError, message.Answers, 60, ushort.MaxValue);
            if (DnsMessage.TryParse(answer, out var back) is var error && error != DnsParseError.None)
            {
                throw new InvalidOperationException($"the writer's answer does not parse: {error}");
            }

            if (back!.Question!.Name != question.Name)
            {
                throw new InvalidOperationException("the writer changed the question");
            }
        },
    };

    private static byte[] Query(string name, ushort type) => [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, .. Name(name), (byte)(type >> 8), (byte)type, 0, 1];

    private static byte[] Answer() =>
        [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, .. Name("api.example.org"), 0, 1, 0, 1, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 18, 5, 5];

    private static byte[] AnswerWithCname()
    {
        byte[] head = [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 1, .. Name("api.example.org"), 0, 1, 0, 1];
        var target = head.Length + 12;
        return [.. head, 0xc0, 0x0c, 0, 5, 0, 1, 0, 0, 1, 0, 0, 14, .. Name("edge.cdn.net"), (byte)(0xc0 | (target >> 8)), (byte)target, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 198, 18, 9, 1,
            0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0];
    }

    private static byte[] Name(string dotted) =>
        [.. dotted.Split('.').SelectMany(l => (byte[])[(byte)l.Length, .. System.Text.Encoding.ASCII.GetBytes(l)]), 0];
}
