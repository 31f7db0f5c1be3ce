using System.Buffers.Binary;

namespace Moat.Fuzz.Engine;

/// <summary>
/// Derives one input from the seeds with a few stacked mutations (bit flips, interesting bytes, integer boundaries,
/// inserted, deleted, duplicated and repeated ranges, splices of two seeds, truncation, dictionary tokens). The input
/// depends only on (seed, index), so any finding is reproduced by its index alone.
/// </summary>
internal sealed class Mutator
{
    private static readonly byte[] InterestingBytes = [0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe, 0x20, 0x40];

    private static readonly ulong[] Boundaries =
    [
        0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff,
        0x100000000, 0x7fffffffffffffff, 0x8000000000000000, 0xffffffffffffffff, 0xfffffffe, 0xfffe,
    ];

    private readonly IReadOnlyList<byte[]> seeds;
    private readonly IReadOnlyList<byte[]> dictionary;
    private readonly int maxLength;
    private readonly int runSeed;

    public Mutator(IReadOnlyList<byte[]> seeds, IReadOnlyList<byte[]> dictionary, int maxLength, int runSeed)
    {
        if (seeds.Count == 0)
        {
            throw new ArgumentException("a fuzz target needs at least one seed input.", nameof(seeds));
        }

        this.seeds = seeds;
        this.dictionary = dictionary;
        this.maxLength = maxLength;
        this.runSeed = runSeed;
    }

    /// <summary>Input number <paramref name="index"/> of this run.</summary>
    public byte[] Create(long index)
    {
        var random = new Random(HashCode.Combine(runSeed, index));
        var data = new List<byte>(Clip(seeds[random.Next(seeds.Count)]));

        // One input in sixteen is a seed as it is, so the well-formed paths stay covered.
        if (random.Next(16) == 0)
        {
            return [.. data];
        }

        int rounds = 1 + random.Next(random.Next(2) == 0 ? 2 : 8);
        for (int r = 0; r < rounds; r++)
        {
            Mutate(random, data);
            if (data.Count > maxLength)
            {
                data.RemoveRange(maxLength, data.Count - maxLength);
            }
        }

        return [.. data];
    }

    private byte[] Clip(byte[] seed) => seed.Length <= maxLength ? seed : seed[..maxLength];

    private void Mutate(Random random, List<byte> data)
    {
        int op = random.Next(dictionary.Count > 0 ? 12 : 11);
        if (data.Count == 0 && op < 9)
        {
            op = 9;
        }

        switch (op)
        {
            case 0: // bit flip
                {
                    int at = random.Next(data.Count);
                    data[at] ^= (byte)(1 << random.Next(8));
                    break;
                }

            case 1: // byte to an interesting value
                data[random.Next(data.Count)] = InterestingBytes[random.Next(InterestingBytes.Length)];
                break;
            case 2: // random byte
                data[random.Next(data.Count)] = (byte)random.Next(256);
                break;
            case 3: // integer field to a boundary
                SetInteger(random, data);
                break;
            case 4: // delete a range
                {
                    int at = random.Next(data.Count);
                    int length = 1 + random.Next(Math.Min(data.Count - at, ShortLength(random)));
                    data.RemoveRange(at, length);
                    break;
                }

            case 5: // duplicate a range in place
                {
                    int at = random.Next(data.Count);
                    int length = 1 + random.Next(Math.Min(data.Count - at, ShortLength(random)));
                    data.InsertRange(at, data.GetRange(at, length));
                    break;
                }

            case 6: // copy a range elsewhere
                {
                    int from = random.Next(data.Count);
                    int length = 1 + random.Next(Math.Min(data.Count - from, ShortLength(random)));
                    data.InsertRange(random.Next(data.Count + 1), data.GetRange(from, length));
                    break;
                }

            case 7: // truncate
                if (random.Next(4) == 0)
                {
                    data.RemoveRange(0, random.Next(data.Count));
                }
                else
                {
                    TrimTo(data, random.Next(data.Count));
                }

                break;
            case 8: // repeat a range many times
                {
                    int from = random.Next(data.Count);
                    int length = 1 + random.Next(Math.Min(data.Count - from, 16));
                    int times = 2 + random.Next(random.Next(2) == 0 ? 16 : 4096);
                    var range = data.GetRange(from, length);
                    var repeated = new List<byte>(length * times);
                    for (int i = 0; i < times && repeated.Count < maxLength; i++)
                    {
                        repeated.AddRange(range);
                    }

                    data.InsertRange(from, repeated);
                    break;
                }

            case 9: // insert random bytes
                {
                    int length = 1 + random.Next(ShortLength(random));
                    var bytes = new byte[length];
                    random.NextBytes(bytes);
                    data.InsertRange(random.Next(data.Count + 1), bytes);
                    break;
                }

            case 10: // splice with another seed
                {
                    byte[] other = Clip(seeds[random.Next(seeds.Count)]);
                    int keep = random.Next(data.Count + 1);
                    int from = other.Length == 0 ? 0 : random.Next(other.Length);
                    TrimTo(data, keep);
                    data.AddRange(other.AsSpan(from).ToArray());
                    break;
                }

            default: // a dictionary token inserted or written over
                {
                    byte[] token = dictionary[random.Next(dictionary.Count)];
                    int at = random.Next(data.Count + 1);
                    if (random.Next(2) == 0 || at + token.Length > data.Count)
                    {
                        data.InsertRange(at, token);
                    }
                    else
                    {
                        for (int i = 0; i < token.Length; i++)
                        {
                            data[at + i] = token[i];
                        }
                    }

                    break;
                }
        }
    }

    private static int ShortLength(Random random) => random.Next(4) == 0 ? 256 : 8;

    private static void TrimTo(List<byte> data, int length)
    {
        if (length < data.Count)
        {
            data.RemoveRange(length, data.Count - length);
        }
    }

    private static void SetInteger(Random random, List<byte> data)
    {
        int width = (1 << random.Next(4)) switch { 8 => 8, 4 => 4, 2 => 2, _ => 1 };
        if (data.Count < width)
        {
            return;
        }

        ulong value = Boundaries[random.Next(Boundaries.Length)];
        if (random.Next(4) == 0)
        {
            value += (ulong)(random.Next(3) - 1);
        }

        Span<byte> bytes = stackalloc byte[8];
        if (random.Next(2) == 0)
        {
            BinaryPrimitives.WriteUInt64BigEndian(bytes, value);
            bytes = bytes[(8 - width)..];
        }
        else
        {
            BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
            bytes = bytes[..width];
        }

        int at = random.Next(data.Count - width + 1);
        for (int i = 0; i < width; i++)
        {
            data[at + i] = bytes[i];
        }
    }
}
