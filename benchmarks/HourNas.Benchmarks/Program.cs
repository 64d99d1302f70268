using BenchmarkDotNet.Running;

// Run: dotnet run -c Release --project benchmarks/HourNas.Benchmarks -- --filter '*' (see docs/performance.md)
BenchmarkSwitcher.FromAssembly(typeof(HourNas.Benchmarks.ShrinkBenchmarks).Assembly).Run(args);
