[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

// The CLI tests swap Console.Out and Console.Error, which are process-wide.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
