using System.Net;
using Moat.Containment.Dns;

namespace Moat.Containment.Tests.Dns;

public sealed class DnsMessageTests
{
    [Fact]
    public void Query_IsReadWithItsQuestion()
    {
        Assert.Equal(DnsParseError.None, DnsMessage.TryParse(Wire.Query(0x1234, "Api.Example.org"), out var m));
        Assert.Equal(0x1234, m!.Id);
        Assert.False(m.IsResponse);
        Assert.Equal("Api.Example.org", m.Question!.Name);
        Assert.Equal("api.example.org", m.Question.Key);
        Assert.Equal(DnsMessage.TypeA, m.Question.Type);
    }

    [Fact]
    public void Answer_WithCompressedOwnersAndCname_IsRead()
    {
        // question at 12; answer 1: CNAME owner -> pointer to question, target www.cdn.net; answer 2: A for that target via pointer.
        byte[] head = [.. Wire.Header(7, 0x8180, 1, 2), .. Wire.Question("api.example.org")];
        var targetAt = head.Length + 12;
        byte[] packet = [.. head, .. Wire.Cname(Wire.Pointer(12), 300, Wire.Name("www.cdn.net")), .. Wire.A(Wire.Pointer(targetAt), 60, 198, 18, 5, 5)];
        Assert.Equal(DnsParseError.None, DnsMessage.TryParse(packet, out var m));
        Assert.True(m!.IsResponse);
        Assert.Equal(2, m.Answers.Count);
        Assert.Equal("api.example.org", m.Answers[0].Name);
        Assert.Equal("www.cdn.net", m.Answers[0].Target);
        Assert.Equal("www.cdn.net", m.Answers[1].Name);
        Assert.Equal(IPAddress.Parse("198.18.5.5"), m.Answers[1].Address);
        Assert.Equal(60u, m.Answers[1].Ttl);
    }

    [Fact]
    public void Writer_AnswerIsReadBackByAnIndependentReading()
    {
        var question = new DnsQuestion("Api.Example.org", DnsMessage.TypeA, DnsMessage.ClassIn);
        var bytes = DnsWriter.Answer(0xBEEF, true, question, DnsResponseCode.NoError, [new DnsRecord("api.example.org", DnsMessage.TypeA, 1, 9, IPAddress.Parse("198.18.5.6"), null)], 42);
        Assert.Equal(0xBEEF, Wire.Id(bytes));
        Assert.Equal(0x81, bytes[2]); // QR, RD
        Assert.Equal(1, Wire.AnswerCount(bytes));
        // The question as asked, case kept, then one A record with the TTL given, uncompressed.
        byte[] expected = [.. Wire.Question("Api.Example.org"), .. Wire.A(Wire.Name("api.example.org"), 42, 198, 18, 5, 6)];
        Assert.Equal(expected, bytes[12..]);
    }

    [Fact]
    public void Writer_TooManyRecordsForUdp_SetsTcAndStaysUnder512()
    {
        var question = new DnsQuestion("a.example.org", DnsMessage.TypeA, DnsMessage.ClassIn);
        var records = Enumerable.Range(0, 100).Select(i => new DnsRecord("a.example.org", DnsMessage.TypeA, 1, 9, new IPAddress([198, 18, 7, (byte)i]), null)).ToList();
        var bytes = DnsWriter.Answer(1, true, question, DnsResponseCode.NoError, records, 30);
        Assert.True(bytes.Length <= 512);
        Assert.Equal(0x02, bytes[2] & 0x02);
    }
}

/// <summary>Hostile DNS from a tenant or an upstream: every case is refused with a reason, never an exception or a hang.</summary>
[Trait("Category", "Hostile")]
public sealed class DnsMessageHostileTests
{
    [Fact]
    public void CompressionPointerToItself_IsRefusedNotLooped()
    {
        // The question "a.org" takes 12..22; the record's owner at 23 is a pointer to 23.
        byte[] packet = [.. Wire.Header(1, 0x8180, 1, 1), .. Wire.Question("a.org"), .. Wire.Pointer(23), 0, 1, 0, 1, 0, 0, 0, 9, 0, 4, 1, 2, 3, 4];
        Assert.Equal(DnsParseError.BadPointer, DnsMessage.TryParse(packet, out _));
    }

    [Fact]
    public void CompressionLoopBetweenTwoPointers_IsRefused()
    {
        // A label at 12 followed by a pointer forward to 18, where a pointer goes back to 12: a two-step loop.
        byte[] packet = [.. Wire.Header(1, 0x0100, 1, 0), 1, (byte)'a', .. Wire.Pointer(18), 0, 0, .. Wire.Pointer(12), 0, 1, 0, 1];
        Assert.Equal(DnsParseError.BadPointer, DnsMessage.TryParse(packet, out _));
    }

    [Fact]
    public void PointerChainLongerThanAnyName_IsRefused()
    {
        // 200 pointers each to the one before (backwards every time, but no name needs so many), kept in the data of a
        // record of an unknown type, then an A record whose owner points at the last of them.
        var pointers = new List<byte> { 0 };
        for (var i = 0; i < 200; i++)
        {
            pointers.AddRange(Wire.Pointer(23 + (i == 0 ? 0 : 1 + (2 * (i - 1)))));
        }

        var packet = new List<byte>(Wire.Header(1, 0x8180, 0, 2)) { 0, 0, 99, 0, 1, 0, 0, 0, 1, (byte)(pointers.Count >> 8), (byte)pointers.Count };
        packet.AddRange(pointers);
        packet.AddRange(Wire.A(Wire.Pointer(packet.Count - 2), 1, 1, 2, 3, 4));
        Assert.Equal(DnsParseError.BadPointer, DnsMessage.TryParse([.. packet], out _));
    }

    [Fact]
    public void LabelOf64_IsRefused()
    {
        Assert.Equal(DnsParseError.BadLabel, DnsMessage.TryParse(Wire.Query(1, new string('a', 64) + ".org"), out _));
        Assert.Equal(DnsParseError.None, DnsMessage.TryParse(Wire.Query(1, new string('a', 63) + ".org"), out _));
    }

    [Fact]
    public void NameOver255Octets_IsRefused_AlsoWhenBuiltFromPointers()
    {
        var long4 = string.Join('.', Enumerable.Repeat(new string('b', 63), 4)); // 4*64+1 = 257 octets
        Assert.Equal(DnsParseError.NameTooLong, DnsMessage.TryParse(Wire.Query(1, long4), out _));

        // 3 labels of 63 (193 octets) in the question, then a record owner of 2 more labels of 63 + pointer to it: 321.
        var three = string.Join('.', Enumerable.Repeat(new string('c', 63), 3));
        byte[] head = [.. Wire.Header(1, 0x8180, 1, 1), .. Wire.Question(three)];
        byte[] owner = [63, .. Enumerable.Repeat((byte)'d', 63), 63, .. Enumerable.Repeat((byte)'e', 63), .. Wire.Pointer(12)];
        Assert.Equal(DnsParseError.NameTooLong, DnsMessage.TryParse([.. head, .. Wire.A(owner, 1, 1, 2, 3, 4)], out _));
    }

    [Fact]
    public void TruncatedEverywhere_IsRefused()
    {
        byte[] full = [.. Wire.Header(1, 0x8180, 1, 1), .. Wire.Question("api.example.org"), .. Wire.A(Wire.Pointer(12), 5, 198, 18, 0, 1)];
        Assert.Equal(DnsParseError.None, DnsMessage.TryParse(full, out _));
        for (var n = 0; n < full.Length; n++)
        {
            Assert.Equal(DnsParseError.Truncated, DnsMessage.TryParse(full.AsSpan(0, n), out _));
        }
    }

    [Fact]
    public void HugeCounts_AreRefusedBeforeAnyRecordIsRead()
    {
        byte[] packet = [.. Wire.Header(1, 0x8180, 1, 0xFFFF, 0xFFFF, 0xFFFF), .. Wire.Question("a.org")];
        Assert.Equal(DnsParseError.TooManyRecords, DnsMessage.TryParse(packet, out _));
        Assert.Equal(DnsParseError.TooManyRecords, DnsMessage.TryParse([.. Wire.Header(1, 0x0100, 2, 0), .. Wire.Question("a.org"), .. Wire.Question("b.org")], out _));
    }

    [Fact]
    public void ExtendedLabelTypesAndControlBytes_AreRefused()
    {
        Assert.Equal(DnsParseError.BadLabel, DnsMessage.TryParse([.. Wire.Header(1, 0x0100, 1, 0), 0x41, 1, 2, 0, 0, 1, 0, 1], out _));
        Assert.Equal(DnsParseError.BadLabel, DnsMessage.TryParse([.. Wire.Header(1, 0x0100, 1, 0), 0x81, 1, 0, 0, 1, 0, 1], out _));
        foreach (var bad in new byte[] { 0, (byte)'.', (byte)' ', 0x7f, 0xff, (byte)'\n', (byte)'\\', (byte)'"' })
        {
            byte[] q = [.. Wire.Header(1, 0x0100, 1, 0), 3, (byte)'a', bad, (byte)'b', 3, (byte)'o', (byte)'r', (byte)'g', 0, 0, 1, 0, 1];
            Assert.Equal(DnsParseError.BadCharacter, DnsMessage.TryParse(q, out _));
        }
    }

    [Fact]
    public void ARecordWithWrongLength_AndCnameWithTrailingBytes_AreRefused()
    {
        byte[] head = [.. Wire.Header(1, 0x8180, 1, 1), .. Wire.Question("a.org")];
        Assert.Equal(DnsParseError.BadRecord, DnsMessage.TryParse([.. head, .. Wire.A(Wire.Pointer(12), 1, 1, 2, 3, 4, 5)], out _));
        Assert.Equal(DnsParseError.BadRecord, DnsMessage.TryParse([.. head, .. Wire.Cname(Wire.Pointer(12), 1, [.. Wire.Name("b.org"), 9, 9])], out _));
        // A CNAME's target may not run past its own data into the next record.
        byte[] cut = [.. head, .. Wire.Pointer(12), 0, 5, 0, 1, 0, 0, 0, 1, 0, 2, 1, (byte)'x', 0];
        Assert.NotEqual(DnsParseError.None, DnsMessage.TryParse(cut, out _));
    }

    [Fact]
    public void OversizedInput_IsRefused()
    {
        Assert.Equal(DnsParseError.TooLong, DnsMessage.TryParse(new byte[70_000], out _));
    }

    [Fact]
    public void TtlWithTopBitSet_ReadsAsZero()
    {
        byte[] packet = [.. Wire.Header(1, 0x8180, 1, 1), .. Wire.Question("a.org"), .. Wire.A(Wire.Pointer(12), 0x80000001, 1, 2, 3, 4)];
        Assert.Equal(DnsParseError.None, DnsMessage.TryParse(packet, out var m));
        Assert.Equal(0u, m!.Answers[0].Ttl);
    }

    [Fact]
    public void RandomBytes_NeverThrow()
    {
        var random = new Random(20261207);
        var buffer = new byte[600];
        for (var i = 0; i < 20_000; i++)
        {
            var n = random.Next(buffer.Length);
            random.NextBytes(buffer.AsSpan(0, n));
            _ = DnsMessage.TryParse(buffer.AsSpan(0, n), out _);
        }
    }
}
