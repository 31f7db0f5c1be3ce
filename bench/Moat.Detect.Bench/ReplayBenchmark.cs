namespace Moat.Detect.Bench;

internal static class ReplayBenchmark
{
    internal static int Run(string[] args)
    {
        Console.WriteLine("not yet");
        return 0;
    }
}
