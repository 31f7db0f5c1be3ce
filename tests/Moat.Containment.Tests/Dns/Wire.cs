using System.Text;

namespace Moat.Containment.Tests.Dns;

/// <summary>DNS messages written byte by byte in tests, independently of the code under test (RFC 1035 §4).</summary>
internal static class Wire
{
    public static byte[] Header(ushort id, ushort flags, int qd, int an, int ns = 0, int ar = 0) =>
        [(byte)(id >> 8), (byte)id, (byte)(flags >> 8), (byte)flags, (byte)(qd >> 8), (byte)qd, (byte)(an >> 8), (byte)an, (byte)(ns >> 8), (byte)ns, (byte)(ar >> 8), (byte)ar];

    public static byte[] Name(string dotted)
    {
        var bytes = new List<byte>();
        foreach (var label in dotted.Split('.', StringSplitOptions.RemoveEmptyEntries))
        {
            bytes.Add((byte)label.Length);
            bytes.AddRange(Encoding.ASCII.GetBytes(label));
        }

        bytes.Add(0);
        return [.. bytes];
    }

    public static byte[] Question(string name, ushort type = 1) => [.. Name(name), (byte)(type >> 8), (byte)type, 0, 1];

    public static byte[] Query(ushort id, string name, ushort type = 1) => [.. Header(id, 0x0100, 1, 0), .. Question(name, type)];

    public static byte[] A(byte[] owner, uint ttl, params byte[] address) =>
        [.. owner, 0, 1, 0, 1, (byte)(ttl >> 24), (byte)(ttl >> 16), (byte)(ttl >> 8), (byte)ttl, 0, (byte)address.Length, .. address];

    public static byte[] Cname(byte[] owner, uint ttl, byte[] target) =>
        [.. owner, 0, 5, 0, 1, (byte)(ttl >> 24), (byte)(ttl >> 16), (byte)(ttl >> 8), (byte)ttl, (byte)(target.Length >> 8), (byte)target.Length, .. target];

    /// <summary>A compression pointer to <paramref name="offset"/>.</summary>
    public static byte[] Pointer(int offset) => [(byte)(0xC0 | (offset >> 8)), (byte)offset];

    public static int Rcode(byte[] message) => message[3] & 0xF;

    public static int AnswerCount(byte[] message) => (message[6] << 8) | message[7];

    public static ushort Id(byte[] message) => (ushort)((message[0] << 8) | message[1]);
}
