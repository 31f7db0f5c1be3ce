namespace Moat.Detect.Response;

/// <summary>Carries out responses on a host (throttle, quarantine, kill) and undoes them; implemented by the host agent.</summary>
public interface IResponseActuator
{
    Task ApplyAsync(ResponseRecord record, CancellationToken cancellationToken = default);

    Task RevertAsync(ResponseRecord record, CancellationToken cancellationToken = default);
}
