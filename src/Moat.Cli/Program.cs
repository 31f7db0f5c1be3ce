[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

return await Moat.Cli.MoatCli.RunAsync(Moat.Cli.MoatCli.CreateRoot(), args);
