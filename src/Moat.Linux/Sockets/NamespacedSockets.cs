using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using Moat.Linux.Namespaces;

namespace Moat.Linux.Sockets;

/// <summary>
/// IPv4 sockets made in a chosen network namespace (the caller's when null). A socket belongs to the namespace it was
/// made in for its whole life, so only its creation needs to run there.
/// </summary>
[SupportedOSPlatform("linux")]
public static class NamespacedSockets
{
    private const int SolIp = 0;
    private const int IpFreebind = 15;

    public static Socket Udp(NetworkNamespace? ns) => Create(ns, SocketType.Dgram, ProtocolType.Udp);

    public static Socket Tcp(NetworkNamespace? ns) => Create(ns, SocketType.Stream, ProtocolType.Tcp);

    /// <summary>
    /// A socket bound to <paramref name="endpoint"/> with IP_FREEBIND, so that it may be bound before the address
    /// exists on any interface (the sandboxes' gateway address appears with the first sandbox's veth).
    /// </summary>
    public static Socket BindFree(NetworkNamespace? ns, SocketType type, IPEndPoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var socket = Create(ns, type, type == SocketType.Stream ? ProtocolType.Tcp : ProtocolType.Udp);
        try
        {
            socket.SetRawSocketOption(SolIp, IpFreebind, BitConverter.GetBytes(1));
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(endpoint);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static Socket Create(NetworkNamespace? ns, SocketType type, ProtocolType protocol) =>
        ns is null ? new Socket(AddressFamily.InterNetwork, type, protocol) : NamespaceRunner.Run(ns, () => new Socket(AddressFamily.InterNetwork, type, protocol));
}
