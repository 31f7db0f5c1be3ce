using System.Net;

namespace Moat.Pki.Validation;

/// <summary>An iPAddress name-constraint subtree: an address and a contiguous mask of the same family.</summary>
internal readonly record struct IpSubtree(byte[] Network, byte[] Mask)
{
    public int PrefixLength
    {
        get
        {
            var bits = 0;
            foreach (var b in Mask)
            {
                bits += System.Numerics.BitOperations.PopCount(b);
            }

            return bits;
        }
    }

    /// <summary>Parses the 8- or 32-octet encoding of RFC 5280 section 4.2.1.10; null when the length or the mask is invalid.</summary>
    public static IpSubtree? FromEncoding(ReadOnlySpan<byte> encoded)
    {
        if (encoded.Length != 8 && encoded.Length != 32)
        {
            return null;
        }

        var half = encoded.Length / 2;
        var network = encoded[..half].ToArray();
        var mask = encoded[half..].ToArray();
        if (!IsContiguous(mask))
        {
            return null;
        }

        return new IpSubtree(network, mask);
    }

    public static IpSubtree FromPrefix(IPNetwork prefix)
    {
        var network = prefix.BaseAddress.GetAddressBytes();
        var mask = new byte[network.Length];
        for (var bit = 0; bit < prefix.PrefixLength; bit++)
        {
            mask[bit / 8] |= (byte)(0x80 >> (bit % 8));
        }

        return new IpSubtree(network, mask);
    }

    public byte[] Encode() => [.. Network, .. Mask];

    public bool Contains(ReadOnlySpan<byte> address)
    {
        if (address.Length != Network.Length)
        {
            return false;
        }

        for (var i = 0; i < address.Length; i++)
        {
            if ((address[i] & Mask[i]) != (Network[i] & Mask[i]))
            {
                return false;
            }
        }

        return true;
    }

    public override string ToString()
    {
        return $"{new IPAddress(Network)}/{PrefixLength}";
    }

    private static bool IsContiguous(ReadOnlySpan<byte> mask)
    {
        var seenZero = false;
        foreach (var b in mask)
        {
            for (var bit = 7; bit >= 0; bit--)
            {
                var set = (b >> bit & 1) == 1;
                if (set && seenZero)
                {
                    return false;
                }

                seenZero |= !set;
            }
        }

        return true;
    }
}
