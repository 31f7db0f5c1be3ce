using System.Buffers.Binary;
using System.Net;
using System.Text;
using Moat.Honeyfarm.Dns;

namespace Moat.Honeyfarm.Tests.Dns;

public sealed class DnsSinkholeAnswerTests
{
    private static readonly IPNetwork Dark = IPNetwork.Parse("198.18.128.0/17");

    /// <summary>A standard query (RD set) for NAME with one question, built by hand as RFC 1035 lays it out.</summary>
    private static byte[] Query(string name, ushort type = 1, ushort id = 0x1234, ushort @class = 1)
    {
        var q = new List<byte>();
        q.AddRange([(byte)(id >> 8), (byte)id, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
        foreach (var label in name.Split('.'))
        {
            q.Add((byte)label.Length);
            q.AddRange(Encoding.ASCII.GetBytes(label));
        }

        q.AddRange([0, (byte)(type >> 8), (byte)type, (byte)(@class >> 8), (byte)@class]);
        return [.. q];
    }

    private static (bool Ok, byte[] Response, string? Name) Answer(byte[] query)
    {
        var response = new byte[512];
        var ok = DnsSinkholeAnswer.TryAnswer(query, response, Dark, out var length, out var name);
        return (ok, response[..length], name);
    }

    [Fact]
    public void An_A_query_is_answered_with_an_address_of_the_dark_range_the_same_for_the_same_name_in_any_case()
    {
        var (ok, r, name) = Answer(Query("Update.Example.COM"));
        Assert.True(ok);
        Assert.Equal("update.example.com", name);
        Assert.Equal(0x1234, BinaryPrimitives.ReadUInt16BigEndian(r));
        Assert.Equal(0x8180, BinaryPrimitives.ReadUInt16BigEndian(r.AsSpan(2))); // response, RD kept, RA, NOERROR
        Assert.Equal(1, BinaryPrimitives.ReadUInt16BigEndian(r.AsSpan(6)));     // one answer
        var address = new IPAddress(r.AsSpan(r.Length - 4));
        Assert.True(Dark.Contains(address));
        Assert.NotEqual(Dark.BaseAddress, address);
        Assert.Equal(address, new IPAddress(Answer(Query("update.example.com")).Response.AsSpan(r.Length - 4)));
        Assert.NotEqual(address, DnsSinkholeAnswer.AddressFor("other.example.com", Dark));
    }

    [Theory]
    [InlineData((ushort)28, 0)] // AAAA: no error, no answer
    [InlineData((ushort)16, 5)] // TXT: refused
    [InlineData((ushort)255, 5)] // ANY: refused
    public void Other_types_get_no_address(ushort type, int rcode)
    {
        var (ok, r, _) = Answer(Query("x.example", type));
        Assert.True(ok);
        Assert.Equal(rcode, BinaryPrimitives.ReadUInt16BigEndian(r.AsSpan(2)) & 0xF);
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(r.AsSpan(6)));
    }

    public static TheoryData<string, byte[]> Malformed()
    {
        var compressed = Query("a.example");
        compressed[12] = 0xC0; // a compression pointer in the question
        var response = Query("a.example");
        response[2] |= 0x80; // a response, not a query
        var two = Query("a.example");
        two[5] = 2; // two questions
        var longLabel = Query(new string('a', 63) + ".example");
        longLabel[12] = 64; // a label over 63
        var control = Query("a\u0001b.example");
        return new()
        {
            { "empty", [] },
            { "header only", Query("a.example")[..12] },
            { "truncated name", Query("abcdef.example")[..16] },
            { "no type", Query("a.example")[..^3] },
            { "compression pointer", compressed },
            { "response", response },
            { "two questions", two },
            { "label over 63", longLabel },
            { "name over 255", Query(string.Join('.', Enumerable.Repeat(new string('a', 60), 5))) },
            { "control bytes", control },
        };
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public void A_malformed_message_gets_no_answer(string what, byte[] query)
    {
        Assert.False(Answer(query).Ok, what);
    }

    [Fact]
    public void Random_bytes_never_throw()
    {
        var random = new Random(7);
        var buffer = new byte[600];
        var response = new byte[512];
        for (var i = 0; i < 20_000; i++)
        {
            var n = random.Next(0, buffer.Length);
            random.NextBytes(buffer.AsSpan(0, n));
            if (n > 3)
            {
                buffer[2] = (byte)(buffer[2] & 0x07); // mostly standard queries, so the parser goes past the header
                buffer[4] = 0;
                buffer[5] = 1;
            }

            DnsSinkholeAnswer.TryAnswer(buffer.AsSpan(0, n), response, Dark, out var length, out _);
            Assert.InRange(length, 0, 512);
        }
    }
}
