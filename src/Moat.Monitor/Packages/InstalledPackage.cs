namespace Moat.Monitor.Packages;

/// <summary>A package installed in an image: the OSV ecosystem it belongs to ("Debian" or "Alpine"), name and version.</summary>
public sealed record InstalledPackage(string Ecosystem, string Name, string Version);
