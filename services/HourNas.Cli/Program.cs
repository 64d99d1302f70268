return HourNas.Cli.HournasCli.Run(args, Console.Out, Console.Error);
