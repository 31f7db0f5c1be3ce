using System.Runtime.Versioning;

// The honeyfarm drives Linux kernel interfaces (TUN, netlink, network namespaces, nftables).
[assembly: SupportedOSPlatform("linux")]
