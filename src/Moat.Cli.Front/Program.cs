using Moat.Cli.Front;

return FrontProgram.Run(args);
