namespace Moat.Linux.Nftables;

/// <summary>Numbers from linux/netfilter/nf_tables.h and nfnetlink.h that the encoder writes.</summary>
internal static class Nft
{
    internal const int NETLINK_NETFILTER = 12;
    internal const int SO_SNDBUFFORCE = 32;
    internal const int SO_RCVBUFFORCE = 33;
    internal const int MSG_DONTWAIT = 0x40;

    internal const ushort NFNL_SUBSYS_NFTABLES = 10;
    internal const ushort NFNL_MSG_BATCH_BEGIN = 0x10;
    internal const ushort NFNL_MSG_BATCH_END = 0x11;
    internal const byte NFNETLINK_V0 = 0;

    internal const ushort NLM_F_REQUEST = 0x1;
    internal const ushort NLM_F_MULTI = 0x2;
    internal const ushort NLM_F_ACK = 0x4;
    internal const ushort NLM_F_DUMP = 0x300;
    internal const ushort NLM_F_REPLACE = 0x100;
    internal const ushort NLM_F_EXCL = 0x200;
    internal const ushort NLM_F_CREATE = 0x400;
    internal const ushort NLM_F_APPEND = 0x800;
    internal const ushort NLMSG_ERROR = 2;
    internal const ushort NLMSG_DONE = 3;
    internal const ushort NLA_F_NESTED = 0x8000;

    // enum nf_tables_msg_types
    internal const ushort NEWTABLE = 0, GETTABLE = 1, DELTABLE = 2, NEWCHAIN = 3, GETCHAIN = 4, DELCHAIN = 5;
    internal const ushort NEWRULE = 6, DELRULE = 8, NEWSET = 9, GETSET = 10, DELSET = 11;
    internal const ushort NEWSETELEM = 12, GETSETELEM = 13, DELSETELEM = 14;
    internal const ushort DESTROYTABLE = 26, DESTROYCHAIN = 27, DESTROYRULE = 28, DESTROYSET = 29, DESTROYSETELEM = 30;

    internal const ushort NFTA_TABLE_NAME = 1;
    internal const ushort NFTA_CHAIN_TABLE = 1, NFTA_CHAIN_NAME = 3, NFTA_CHAIN_HOOK = 4, NFTA_CHAIN_POLICY = 5, NFTA_CHAIN_TYPE = 7;
    internal const ushort NFTA_HOOK_HOOKNUM = 1, NFTA_HOOK_PRIORITY = 2;
    internal const ushort NFTA_RULE_TABLE = 1, NFTA_RULE_CHAIN = 2, NFTA_RULE_EXPRESSIONS = 4, NFTA_RULE_USERDATA = 7;
    internal const ushort NFTA_LIST_ELEM = 1;
    internal const ushort NFTA_EXPR_NAME = 1, NFTA_EXPR_DATA = 2;
    internal const ushort NFTA_SET_TABLE = 1, NFTA_SET_NAME = 2, NFTA_SET_FLAGS = 3, NFTA_SET_KEY_TYPE = 4, NFTA_SET_KEY_LEN = 5;
    internal const ushort NFTA_SET_DATA_TYPE = 6, NFTA_SET_DATA_LEN = 7, NFTA_SET_ID = 10, NFTA_SET_TIMEOUT = 11, NFTA_SET_USERDATA = 13;
    internal const ushort NFTA_SET_ELEM_LIST_TABLE = 1, NFTA_SET_ELEM_LIST_SET = 2, NFTA_SET_ELEM_LIST_ELEMENTS = 3;
    internal const ushort NFTA_SET_ELEM_KEY = 1, NFTA_SET_ELEM_DATA = 2, NFTA_SET_ELEM_FLAGS = 3, NFTA_SET_ELEM_TIMEOUT = 4, NFTA_SET_ELEM_EXPIRATION = 5;
    internal const ushort NFTA_DATA_VALUE = 1, NFTA_DATA_VERDICT = 2;
    internal const ushort NFTA_VERDICT_CODE = 1, NFTA_VERDICT_CHAIN = 2;

    internal const uint NFT_SET_ANONYMOUS = 0x1, NFT_SET_CONSTANT = 0x2, NFT_SET_INTERVAL = 0x4, NFT_SET_MAP = 0x8, NFT_SET_TIMEOUT = 0x10;
    internal const uint NFT_SET_EVAL = 0x20;
    internal const ushort NFTA_SET_DESC = 9, NFTA_SET_DESC_SIZE = 1;
    internal const uint NFT_SET_ELEM_INTERVAL_END = 0x1;
    internal const uint NFT_DATA_VERDICT = 0xffffff00;

    internal const uint NFT_REG_VERDICT = 0;
    internal const uint NFT_REG32_00 = 8;

    // nft's userspace data types (datatype.h), so `nft list` prints the sets readably.
    internal const uint TYPE_VERDICT = 1, TYPE_IPADDR = 7, TYPE_INET_PROTOCOL = 12, TYPE_INET_SERVICE = 13, TYPE_IFNAME = 41;
    internal const int TYPE_BITS = 6;
}
