using System.Formats.Asn1;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Moat.Pki.Validation;

namespace Moat.Pki.Authority;

/// <summary>The extensions each kind of Moat certificate carries: root, node, host CA, sandbox, authcert.</summary>
internal static class CertificateProfiles
{
    public static void AddRoot(CertificateRequest request)
    {
        // pathLen 1: below the root come node and host CAs, and below those only end entities.
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 1, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
    }

    /// <summary>
    /// A node's certificate binds its addresses (IP SANs) and is a CA with pathLen 0 whose name constraints are
    /// exactly those addresses, so the node can sign authcerts naming its own addresses and nothing else.
    /// </summary>
    public static void AddNode(CertificateRequest request, IReadOnlyList<IPAddress> addresses)
    {
        AddConstrainedCa(request, addresses.Select(a => new IPNetwork(a, a.GetAddressBytes().Length * 8)).ToList());
        AddAddresses(request, addresses);
    }

    /// <summary>A surrogate host's CA: pathLen 0, permitted iPAddress subtrees = the prefixes it may allocate.</summary>
    public static void AddHostCa(CertificateRequest request, IReadOnlyList<IPNetwork> prefixes, IReadOnlyList<IPAddress> hostAddresses)
    {
        AddConstrainedCa(request, prefixes);
        if (hostAddresses.Count > 0)
        {
            AddAddresses(request, hostAddresses);
        }
    }

    public static void AddSandbox(CertificateRequest request, IPAddress address)
    {
        AddEndEntity(request, address);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
    }

    public static void AddAuthCert(CertificateRequest request, IPAddress address)
    {
        AddEndEntity(request, address);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(Oids.MoatAuthCertUsage)], false));
    }

    public static X509Extension NameConstraints(IReadOnlyList<IPNetwork> permitted)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
            {
                foreach (var prefix in permitted)
                {
                    using (writer.PushSequence())
                    {
                        writer.WriteOctetString(IpSubtree.FromPrefix(prefix).Encode(), new Asn1Tag(TagClass.ContextSpecific, GeneralName.IpAddressTag));
                    }
                }
            }
        }

        return new X509Extension(Oids.NameConstraints, writer.Encode(), critical: true);
    }

    private static void AddConstrainedCa(CertificateRequest request, IReadOnlyList<IPNetwork> permitted)
    {
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(NameConstraints(permitted));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
    }

    private static void AddEndEntity(CertificateRequest request, IPAddress address)
    {
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        AddAddresses(request, [address]);
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
    }

    private static void AddAddresses(CertificateRequest request, IReadOnlyList<IPAddress> addresses)
    {
        var san = new SubjectAlternativeNameBuilder();
        foreach (var address in addresses)
        {
            san.AddIpAddress(address);
        }

        request.CertificateExtensions.Add(san.Build());
    }
}
