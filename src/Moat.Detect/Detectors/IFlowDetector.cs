using Moat.Detect.Flows;

namespace Moat.Detect.Detectors;

/// <summary>A detector fed with flow events in time order; it appends alerts and never throws on odd input.</summary>
internal interface IFlowDetector
{
    string Name { get; }

    void Observe(FlowEvent flowEvent, List<Alert> alerts);
}
