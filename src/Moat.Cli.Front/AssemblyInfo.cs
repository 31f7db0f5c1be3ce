using System.Runtime.Versioning;

// The front talks to the agent's Unix socket and execs the full CLI: Linux only, like the rest of Moat.
[assembly: SupportedOSPlatform("linux")]
