using System.Globalization;
using System.Xml.Linq;
using Moat.Jobs.Store;

namespace Moat.Jobs.Protocol;

/// <summary>
/// The stanzas managers and workers exchange (namespace urn:moat:jobs:0). One IQ carries a batch of tasks and its
/// result carries their outcomes, so a dispatch costs two stanzas however many tasks fit in the batch.
/// </summary>
internal static class JobProtocol
{
    public static readonly XNamespace Ns = "urn:moat:jobs:0";
    public static readonly XNamespace Client = "jabber:client";

    public static XElement WorkerPayload(int slots, IReadOnlyList<string> labels, int memoryMb, double cpus) =>
        new(Ns + "worker", new XAttribute("slots", slots), new XAttribute("labels", string.Join(',', labels)),
            new XAttribute("memory", memoryMb), new XAttribute("cpus", cpus.ToString(CultureInfo.InvariantCulture)));

    public static WorkerOffer? ParseWorker(string jid, XElement presence)
    {
        var w = presence.Element(Ns + "worker");
        if (w is null || !int.TryParse(w.Attribute("slots")?.Value, CultureInfo.InvariantCulture, out int slots))
        {
            return null;
        }

        int.TryParse(w.Attribute("memory")?.Value, CultureInfo.InvariantCulture, out int memory);
        double.TryParse(w.Attribute("cpus")?.Value, CultureInfo.InvariantCulture, out double cpus);
        var labels = (w.Attribute("labels")?.Value ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries);
        return new WorkerOffer(jid, labels, Math.Clamp(slots, 0, 4096), memory, cpus);
    }

    public static XElement RunRequest(string to, IReadOnlyList<TaskAssignment> tasks) =>
        new(Client + "iq", new XAttribute("type", "set"), new XAttribute("to", to),
            new XElement(Ns + "run", tasks.Select(t => new XElement(Ns + "task",
                new XAttribute("id", t.TaskId), new XAttribute("attempt", t.Attempt), new XAttribute("index", t.Index),
                new XAttribute("timeout-ms", (long)t.Timeout.TotalMilliseconds),
                new XElement(Ns + "cmd", t.Command), t.Arguments.Select(a => new XElement(Ns + "arg", a))))));

    public static IReadOnlyList<TaskAssignment> ParseRun(XElement run) =>
        run.Elements(Ns + "task").Select(t => new TaskAssignment(
            long.Parse(t.Attribute("id")!.Value, CultureInfo.InvariantCulture), 0,
            int.Parse(t.Attribute("index")?.Value ?? "0", CultureInfo.InvariantCulture),
            int.Parse(t.Attribute("attempt")!.Value, CultureInfo.InvariantCulture),
            t.Element(Ns + "cmd")?.Value ?? string.Empty,
            t.Elements(Ns + "arg").Select(a => a.Value).ToArray(),
            TimeSpan.FromMilliseconds(long.Parse(t.Attribute("timeout-ms")?.Value ?? "600000", CultureInfo.InvariantCulture)))).ToList();

    public static XElement Results(IEnumerable<TaskResult> results) =>
        new(Ns + "results", results.Select(r => new XElement(Ns + "result",
            new XAttribute("id", r.TaskId), new XAttribute("attempt", r.Attempt), new XAttribute("exit", r.ExitCode),
            new XAttribute("timed-out", r.TimedOut ? "true" : "false"), r.Output)));

    public static IReadOnlyList<TaskResult> ParseResults(XElement iq) =>
        iq.Element(Ns + "results")?.Elements(Ns + "result").Select(r => new TaskResult(
            long.Parse(r.Attribute("id")!.Value, CultureInfo.InvariantCulture),
            int.Parse(r.Attribute("attempt")!.Value, CultureInfo.InvariantCulture),
            int.Parse(r.Attribute("exit")!.Value, CultureInfo.InvariantCulture),
            r.Value, r.Attribute("timed-out")?.Value == "true")).ToList() ?? [];

    public static XElement CommandRequest(string to, string text) =>
        new(Client + "iq", new XAttribute("type", "set"), new XAttribute("to", to), new XElement(Ns + "command", text));
}
