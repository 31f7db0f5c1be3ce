using Moat.Detect.Detectors;
using Microsoft.Extensions.Logging;

namespace Moat.Detect.Response;

/// <summary>Turns alerts into actions through the policy and an actuator, logging each with its evidence and keeping the record an operator reverts.</summary>
public sealed partial class ResponseEngine
{
    private readonly ResponsePolicy _policy;
    private readonly IResponseActuator _actuator;
    private readonly TimeProvider _time;
    private readonly ILogger<ResponseEngine> _logger;
    private readonly Lock _gate = new();
    private readonly List<ResponseRecord> _records = [];
    private long _nextId = 1;

    public ResponseEngine(ResponsePolicy policy, IResponseActuator actuator, TimeProvider time, ILogger<ResponseEngine> logger)
    {
        _policy = policy;
        _actuator = actuator;
        _time = time;
        _logger = logger;
    }

    public IReadOnlyList<ResponseRecord> Records
    {
        get
        {
            lock (_gate)
            {
                return [.. _records];
            }
        }
    }

    /// <summary>Decides the action for the alert, records it, then asks the actuator to carry it out.</summary>
    public async Task<ResponseRecord> RespondAsync(Alert alert, string sandboxId, TrustLevel trust, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(alert);
        var action = _policy.Decide(trust, alert.Detector);
        ResponseRecord record;
        lock (_gate)
        {
            record = new ResponseRecord(_nextId++, sandboxId, trust, action, alert, _time.GetUtcNow());
            _records.Add(record);
        }

        LogApplied(record.Id, action, sandboxId, alert.Detector, alert.Source.ToString(), alert.Target, FormatEvidence(alert), alert.Message);
        await _actuator.ApplyAsync(record, cancellationToken).ConfigureAwait(false);
        return record;
    }

    /// <summary>Undoes a response on an operator's word; the record stays, marked as reverted by whom and when.</summary>
    public async Task<ResponseRecord> RevertAsync(long id, string operatorName, CancellationToken cancellationToken = default)
    {
        ResponseRecord reverted;
        lock (_gate)
        {
            int index = _records.FindIndex(r => r.Id == id);
            if (index < 0)
            {
                throw new KeyNotFoundException($"Response {id} does not exist; existing responses are 1 to {_nextId - 1}.");
            }

            if (_records[index].IsReverted)
            {
                return _records[index];
            }

            reverted = _records[index] with { RevertedAt = _time.GetUtcNow(), RevertedBy = operatorName };
            _records[index] = reverted;
        }

        LogReverted(id, reverted.Action, reverted.SandboxId, operatorName);
        await _actuator.RevertAsync(reverted, cancellationToken).ConfigureAwait(false);
        return reverted;
    }

    private static string FormatEvidence(Alert alert) => string.Join(", ", alert.Evidence.Select(e => $"{e.Key}={e.Value}"));

    [LoggerMessage(EventId = 5100, Level = LogLevel.Warning, Message = "Response {Id}: {Action} sandbox {SandboxId} for {Detector} by {Source} against {Target} ({Evidence}): {AlertMessage}")]
    private partial void LogApplied(long id, ResponseAction action, string sandboxId, string detector, string source, string target, string evidence, string alertMessage);

    [LoggerMessage(EventId = 5101, Level = LogLevel.Information, Message = "Response {Id} ({Action} of sandbox {SandboxId}) reverted by {Operator}")]
    private partial void LogReverted(long id, ResponseAction action, string sandboxId, string @operator);
}
