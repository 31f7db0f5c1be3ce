using System.Runtime.Versioning;

// Containment drives nftables, tc and links through the kernel's netlink interfaces.
[assembly: SupportedOSPlatform("linux")]
