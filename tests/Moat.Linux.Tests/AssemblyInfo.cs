using System.Runtime.Versioning;

// The code under test drives Linux kernel interfaces only.
[assembly: SupportedOSPlatform("linux")]
