using System.Text;
using Moat.Fuzz.Engine;

namespace Moat.Fuzz.Tests.Engine;

/// <summary>The fuzzer itself: it must find what a deliberately broken toy parser does wrong, or the CI run proves nothing.</summary>
[Trait("Category", "Hostile")]
public sealed class FuzzRunnerTests
{
    private static readonly FuzzOptions Options = FuzzOptions.Default with { Inputs = 3000, Seed = 7, HangLimit = TimeSpan.FromMilliseconds(500) };

    /// <summary>Reads "len:payload"; trusts the length (IndexOutOfRange) and refuses a missing colon (FormatException).</summary>
    private static void ToyParser(byte[] input)
    {
        int colon = Array.IndexOf(input, (byte)':');
        if (colon <= 0 || !int.TryParse(Encoding.ASCII.GetString(input, 0, colon), out int length))
        {
            throw new FormatException("no length prefix");
        }

        _ = input[colon + length];
    }

    private static FuzzTarget Toy(Action<byte[]> run) => new()
    {
        Name = "toy",
        Parser = "toy",
        Seeds = () => [Encoding.ASCII.GetBytes("4:abcd"), Encoding.ASCII.GetBytes("0:")],
        Expected = e => e is FormatException,
        Run = run,
    };

    [Fact]
    public void Run_ParserThatTrustsALengthField_CrashFoundAndMinimised()
    {
        var result = new FuzzRunner(Options).Run(Toy(ToyParser));

        Assert.True(result.Crashes > 0);
        var crash = Assert.Single(result.Findings, f => f.Kind == FindingKind.Crash);
        Assert.StartsWith("System.IndexOutOfRangeException", crash.Signature, StringComparison.Ordinal);
        Assert.Throws<IndexOutOfRangeException>(() => ToyParser(crash.Minimised));
        Assert.True(crash.Minimised.Length <= crash.Input.Length);
        Assert.True(result.Refused > 0, "FormatException is the toy's documented refusal, counted, not a crash");
    }

    [Fact]
    public void Run_CorrectParser_NoFindings()
    {
        var result = new FuzzRunner(Options).Run(Toy(input =>
        {
            try
            {
                ToyParser(input);
            }
            catch (IndexOutOfRangeException)
            {
                throw new FormatException("the length runs past the input");
            }
        }));

        Assert.Equal((3000L, 0, 0, 0), (result.Inputs, result.Crashes, result.Hangs, result.MemoryFindings));
        Assert.Empty(result.Findings);
    }

    [Fact]
    public void Run_ParserThatSpinsForever_HangReportedAndRunGoesOn()
    {
        using var release = new ManualResetEventSlim(false);
        try
        {
            var result = new FuzzRunner(Options with { Inputs = 200 }).Run(Toy(input =>
            {
                if (input.Length > 0 && input[0] == (byte)'0' && input.Length == 2)
                {
                    release.Wait();
                }
            }));

            Assert.True(result.Hangs > 0);
            Assert.Contains(result.Findings, f => f.Kind == FindingKind.Hang);
            Assert.Equal(0, result.Crashes);
        }
        finally
        {
            release.Set();
        }
    }

    [Fact]
    public void Run_ParserAllocatingALengthFieldsWorth_MemoryFinding()
    {
        var result = new FuzzRunner(Options with { Inputs = 300, AllocationBase = 1 << 20 }).Run(Toy(input =>
        {
            int colon = Array.IndexOf(input, (byte)':');
            // Trusts the length as a count of mebibytes: "4:abcd" allocates 4 MiB for six bytes of input.
            if (colon > 0 && int.TryParse(Encoding.ASCII.GetString(input, 0, colon), out int length) && length is > 0 and < 64)
            {
                GC.KeepAlive(new byte[length << 20]);
            }
        }));

        Assert.Contains(result.Findings, f => f.Kind == FindingKind.Memory);
    }

    [Fact]
    public void Create_SameSeedAndIndex_SameInput()
    {
        IReadOnlyList<byte[]> seeds = [Encoding.ASCII.GetBytes("hello world"), [0, 1, 2, 3]];
        var a = new Mutator(seeds, [], 1024, 5);
        var b = new Mutator(seeds, [], 1024, 5);

        for (int i = 0; i < 200; i++)
        {
            Assert.Equal(a.Create(i), b.Create(i));
        }

        Assert.Contains(Enumerable.Range(0, 200), i => !a.Create(i).AsSpan().SequenceEqual(seeds[0]) && !a.Create(i).AsSpan().SequenceEqual(seeds[1]));
    }
}
