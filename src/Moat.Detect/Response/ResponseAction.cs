namespace Moat.Detect.Response;

/// <summary>What happens to a sandbox after an alert, from mildest to harshest.</summary>
public enum ResponseAction
{
    /// <summary>Keep the alert and its evidence; nothing else.</summary>
    Record,

    /// <summary>Limit the sandbox's network rate.</summary>
    Throttle,

    /// <summary>Cut the sandbox off the network except for the control plane.</summary>
    Quarantine,

    /// <summary>Stop the sandbox.</summary>
    Kill,
}
