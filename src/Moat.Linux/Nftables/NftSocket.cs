using System.Buffers.Binary;
using System.Runtime.Versioning;
using Moat.Linux.Namespaces;
using Moat.Linux.Netlink;

namespace Moat.Linux.Nftables;

/// <summary>
/// A NETLINK_NETFILTER socket bound to one network namespace for its whole life: commits nf_tables transactions
/// in-process (one system call each way) and lists what a table holds.
/// </summary>
/// <remarks>Calls are serialised on the socket.</remarks>
[SupportedOSPlatform("linux")]
public sealed class NftSocket : IDisposable
{
    // A 1,000-sandbox ruleset is a few MB in one datagram; the batch must be one skb, so the buffers are forced up.
    private const int BufferSize = 16 * 1024 * 1024;
    private const int ReceiveBufferSize = 256 * 1024;

    private readonly SafeFileDescriptor _socket;
    private readonly byte[] _receiveBuffer = new byte[ReceiveBufferSize];
    private readonly Lock _lock = new();
    private uint _nextSequence = 1;

    private NftSocket(SafeFileDescriptor socket) => _socket = socket;

    /// <summary>Opens a socket in the calling thread's network namespace.</summary>
    public static NftSocket Open()
    {
        var fd = new SafeFileDescriptor(Interop.Check(
            Interop.Socket(Interop.AF_NETLINK, Interop.SOCK_RAW | Interop.SOCK_CLOEXEC, Nft.NETLINK_NETFILTER), "socket(AF_NETLINK, NETLINK_NETFILTER)"));
        try
        {
            SetInt(fd, Interop.SOL_NETLINK, Interop.NETLINK_CAP_ACK, 1);
            SetInt(fd, Interop.SOL_NETLINK, Interop.NETLINK_EXT_ACK, 1);
            SetInt(fd, Interop.SOL_SOCKET, Nft.SO_SNDBUFFORCE, BufferSize);
            SetInt(fd, Interop.SOL_SOCKET, Nft.SO_RCVBUFFORCE, BufferSize);
            SetReceiveTimeout(fd, TimeSpan.FromSeconds(10));
            return new NftSocket(fd);
        }
        catch
        {
            fd.Dispose();
            throw;
        }
    }

    /// <summary>Opens a socket created inside <paramref name="ns"/>; it acts on that namespace for as long as it lives.</summary>
    public static NftSocket OpenIn(NetworkNamespace ns) => NamespaceRunner.Run(ns, Open);

    /// <summary>Applies every change of <paramref name="transaction"/> atomically.</summary>
    /// <exception cref="NetlinkException">The kernel refused a change (named in the message); nothing was applied.</exception>
    public void Commit(NftTransaction transaction)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        if (transaction.Count == 0)
        {
            return;
        }

        lock (_lock)
        {
            var begin = _nextSequence;
            _nextSequence += (uint)transaction.Count + 2;
            var datagram = Frame(transaction, begin);
            Send(datagram);

            // The kernel runs the whole batch inside send(), so every answer is queued when it returns: an error for
            // each refused message and one ACK for the last (the only message that asks for one).
            var last = begin + (uint)transaction.Count;
            var gotLast = false;
            NetlinkException? first = null;
            while (true)
            {
                var received = Receive(wait: false);
                if (received.IsEmpty)
                {
                    break;
                }

                foreach (var message in new NetlinkMessageEnumerator(received))
                {
                    if (message.Type != Nft.NLMSG_ERROR)
                    {
                        continue;
                    }

                    var (errno, text) = RtNetlink.ParseError(message);
                    gotLast |= message.Sequence == last;
                    if (errno != 0 && first is null)
                    {
                        first = new NetlinkException(errno, Describe(transaction, begin, message.Sequence), text);
                    }
                }
            }

            if (first is not null)
            {
                throw first;
            }

            if (!gotLast)
            {
                throw new LinuxException(Interop.EAGAIN, $"nf_tables transaction of {transaction.Count} changes (the kernel sent no acknowledgement)");
            }
        }
    }

    /// <summary>Names of the chains of <paramref name="table"/> (empty if the table does not exist).</summary>
    public IReadOnlyList<string> ListChains(NftFamily family, string table) =>
        Dump(Nft.GETCHAIN, family, Nft.NFTA_CHAIN_TABLE, table, Nft.NFTA_CHAIN_NAME);

    /// <summary>Names of the sets and maps of <paramref name="table"/> (empty if the table does not exist).</summary>
    public IReadOnlyList<string> ListSets(NftFamily family, string table) =>
        Dump(Nft.GETSET, family, Nft.NFTA_SET_TABLE, table, Nft.NFTA_SET_NAME);

    public void Dispose() => _socket.Dispose();

    private static string Describe(NftTransaction transaction, uint begin, uint sequence)
    {
        var index = (long)sequence - begin - 1;
        return index >= 0 && index < transaction.Count
            ? $"nf_tables change {index + 1} of {transaction.Count} ({transaction.Messages[(int)index].Description})"
            : $"nf_tables batch of {transaction.Count} changes";
    }

    private static byte[] Frame(NftTransaction transaction, uint begin)
    {
        var head = new NetlinkWriter(32);
        var b = head.BeginMessage(Nft.NFNL_MSG_BATCH_BEGIN, Nft.NLM_F_REQUEST, begin);
        NftTransaction.WriteNfGenMsg(head, 0, Nft.NFNL_SUBSYS_NFTABLES);
        head.EndMessage(b);
        var tail = new NetlinkWriter(32);
        var t = tail.BeginMessage(Nft.NFNL_MSG_BATCH_END, Nft.NLM_F_REQUEST, begin + (uint)transaction.Count + 1);
        NftTransaction.WriteNfGenMsg(tail, 0, Nft.NFNL_SUBSYS_NFTABLES);
        tail.EndMessage(t);

        var body = transaction.Writer.WrittenSpan;
        var datagram = new byte[head.Length + body.Length + tail.Length];
        head.WrittenSpan.CopyTo(datagram);
        body.CopyTo(datagram.AsSpan(head.Length));
        tail.WrittenSpan.CopyTo(datagram.AsSpan(head.Length + body.Length));
        var messages = transaction.Messages;
        for (var i = 0; i < messages.Count; i++)
        {
            var at = datagram.AsSpan(head.Length + messages[i].Offset);
            BinaryPrimitives.WriteUInt32LittleEndian(at[8..], begin + 1 + (uint)i);
            if (i == messages.Count - 1)
            {
                var flags = BinaryPrimitives.ReadUInt16LittleEndian(at[6..]);
                BinaryPrimitives.WriteUInt16LittleEndian(at[6..], (ushort)(flags | Nft.NLM_F_ACK));
            }
        }

        return datagram;
    }

    private List<string> Dump(ushort message, NftFamily family, ushort tableAttribute, string table, ushort nameAttribute)
    {
        var names = new List<string>();
        lock (_lock)
        {
            var sequence = _nextSequence++;
            var w = new NetlinkWriter(128);
            var m = w.BeginMessage((ushort)((Nft.NFNL_SUBSYS_NFTABLES << 8) | message), (ushort)(Nft.NLM_F_REQUEST | Nft.NLM_F_DUMP), sequence);
            NftTransaction.WriteNfGenMsg(w, (byte)family, 0);
            w.PutString(tableAttribute, table);
            w.EndMessage(m);
            Send(w.WrittenSpan.ToArray());
            while (true)
            {
                var received = Receive(wait: true);
                foreach (var reply in new NetlinkMessageEnumerator(received))
                {
                    if (reply.Sequence != sequence)
                    {
                        continue;
                    }

                    if (reply.Type == Nft.NLMSG_DONE)
                    {
                        return names;
                    }

                    if (reply.Type == Nft.NLMSG_ERROR)
                    {
                        var (errno, text) = RtNetlink.ParseError(reply);
                        if (errno == Errno.ENOENT)
                        {
                            return names;
                        }

                        throw new NetlinkException(errno, $"list {NftTransaction.Name(family)} {table}", text);
                    }

                    // Payload: struct nfgenmsg (4 bytes), then attributes. Dumps filter by table only when asked.
                    string? owner = null;
                    string? name = null;
                    foreach (var attribute in new NetlinkAttributeEnumerator(reply.Payload[4..]))
                    {
                        if (attribute.Type == tableAttribute)
                        {
                            owner = attribute.AsString();
                        }
                        else if (attribute.Type == nameAttribute)
                        {
                            name = attribute.AsString();
                        }
                    }

                    if (name is not null && owner == table)
                    {
                        names.Add(name);
                    }
                }
            }
        }
    }

    private unsafe void Send(ReadOnlySpan<byte> datagram)
    {
        fixed (byte* p = datagram)
        {
            while (true)
            {
                var sent = Interop.Send(_socket, p, (nuint)datagram.Length, 0);
                if (sent >= 0)
                {
                    return;
                }

                var errno = Interop.LastErrno;
                if (errno != Interop.EINTR)
                {
                    throw new LinuxException(errno, $"send of a {datagram.Length}-byte nf_tables batch");
                }
            }
        }
    }

    /// <summary>One datagram, or empty when <paramref name="wait"/> is false and nothing is queued.</summary>
    private unsafe ReadOnlySpan<byte> Receive(bool wait)
    {
        fixed (byte* p = _receiveBuffer)
        {
            while (true)
            {
                var received = Interop.Recv(_socket, p, (nuint)_receiveBuffer.Length, wait ? 0 : Nft.MSG_DONTWAIT);
                if (received >= 0)
                {
                    return _receiveBuffer.AsSpan(0, (int)received);
                }

                var errno = Interop.LastErrno;
                if (errno == Interop.EAGAIN && !wait)
                {
                    return [];
                }

                if (errno != Interop.EINTR)
                {
                    throw new LinuxException(errno, "recv on nf_tables netlink socket");
                }
            }
        }
    }

    private static unsafe void SetReceiveTimeout(SafeFileDescriptor fd, TimeSpan timeout)
    {
        // struct timeval { long tv_sec; long tv_usec; }: a dump the kernel never finishes fails instead of hanging.
        var timeval = stackalloc long[2];
        timeval[0] = (long)timeout.TotalSeconds;
        timeval[1] = 0;
        Interop.Check(Interop.SetSockOpt(fd, Interop.SOL_SOCKET, Interop.SO_RCVTIMEO, timeval, 2 * sizeof(long)), "setsockopt(SO_RCVTIMEO)");
    }

    private static unsafe void SetInt(SafeFileDescriptor fd, int level, int option, int value) =>
        Interop.Check(Interop.SetSockOpt(fd, level, option, &value, sizeof(int)), $"setsockopt({level}, {option})");
}
