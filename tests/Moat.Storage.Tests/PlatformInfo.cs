using System.Runtime.Versioning;

// Moat is a Linux platform; its exceptions share a root (Moat.MoatException) in Moat.Linux, which is Linux-only.
[assembly: SupportedOSPlatform("linux")]
