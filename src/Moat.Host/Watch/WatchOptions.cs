using Moat.Detect.Detectors;
using Moat.Detect.Response;

namespace Moat.Host.Watch;

/// <summary>How the agent watches its sandboxes: exec monitoring, network detectors and the response policy.</summary>
public sealed record WatchOptions
{
    public static WatchOptions Default { get; } = new();

    /// <summary>Run the watchers at all (they need root: fanotify, the proc connector, conntrack events).</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>YAML response policy (see docs/detection.md); null = <see cref="ResponsePolicy.Default"/>.</summary>
    public string? ResponsePolicyFile { get; init; }

    /// <summary>Thresholds of the network detectors, one engine per sandbox.</summary>
    public DetectorOptions Detectors { get; init; } = DetectorOptions.Default;

    /// <summary>The data-path scan throttle for every sandbox that is not trusted; null turns it off.</summary>
    public Throttle.ScanThrottleOptions? ScanThrottle { get; init; } = Throttle.ScanThrottleOptions.Default;

    /// <summary>How often the sandbox list is re-read to start and stop watching sandboxes.</summary>
    public TimeSpan RefreshInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The policy in force: the file's, or the default; a bad file is one sentence naming it.</summary>
    public ResponsePolicy LoadPolicy()
    {
        if (ResponsePolicyFile is null)
        {
            return ResponsePolicy.Default;
        }

        try
        {
            return ResponsePolicy.Load(File.ReadAllText(ResponsePolicyFile));
        }
        catch (ResponsePolicyException e)
        {
            throw new InvalidRequestException($"response policy {ResponsePolicyFile}: {e.Message}");
        }
        catch (IOException e)
        {
            throw new InvalidRequestException($"response policy {ResponsePolicyFile} cannot be read ({e.Message}); give a readable YAML file or leave it out for the default policy.");
        }
    }

    public void Validate()
    {
        if (RefreshInterval <= TimeSpan.Zero || RefreshInterval > TimeSpan.FromSeconds(10))
        {
            throw new InvalidRequestException($"watch refresh interval {RefreshInterval} is not valid: give more than 0 and at most 10 seconds.");
        }

        if (ScanThrottle is { } t && (t.NewContactBurst == 0 || t.NewContactsPerSecond == 0 || t.FailureBurst == 0 || t.MaxContactsPerSandbox == 0
            || t.ContactLifetime < TimeSpan.FromSeconds(1) || t.BlockFor < TimeSpan.FromSeconds(1)))
        {
            throw new InvalidRequestException("scan throttle options are not valid: bursts, rates and the contact bound must be at least 1, the contact lifetime and the block time at least 1 second.");
        }

        _ = LoadPolicy();
    }
}
