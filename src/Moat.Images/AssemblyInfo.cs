using System.Runtime.Versioning;

// Images are Linux root file systems built with Linux tools (debootstrap, overlayfs); nothing here runs elsewhere.
[assembly: SupportedOSPlatform("linux")]
