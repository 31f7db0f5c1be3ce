using System.CommandLine;
using Moat.Mtd.Cli;

// Runs `mtd simulate` directly, so the figures can be produced without the lead's moat executable.
var root = new RootCommand("Moat.Mtd bench host") { MtdCommands.Create() };
return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
