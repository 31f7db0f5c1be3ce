using System.Runtime.Versioning;

// The parsers under test live in Linux-only assemblies (sandboxes, capture, images).
[assembly: SupportedOSPlatform("linux")]
