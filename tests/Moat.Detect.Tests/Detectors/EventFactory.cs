using System.Net;
using Moat.Detect.Flows;
using Moat.Detect.Packets;

namespace Moat.Detect.Tests.Detectors;

internal static class EventFactory
{
    internal static readonly DateTimeOffset T0 = new(2026, 11, 22, 6, 0, 0, TimeSpan.Zero);

    internal static FlowEvent Tcp(FlowEventKind kind, string source, string destination, int port, double seconds = 0, int sourcePort = 40000) =>
        new(T0.AddSeconds(seconds), IPAddress.Parse(source), sourcePort, IPAddress.Parse(destination), port, TransportProtocol.Tcp, kind, 0);
}
