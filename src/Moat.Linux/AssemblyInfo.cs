using System.Runtime.Versioning;

// Everything in this assembly drives Linux kernel interfaces (netlink, setns, mount).
[assembly: SupportedOSPlatform("linux")]
