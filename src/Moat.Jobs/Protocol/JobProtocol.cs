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

    /// <summary>The tasks of a run request; a missing or out-of-range number is a <see cref="FormatException"/> naming the attribute.</summary>
    public static IReadOnlyList<TaskAssignment> ParseRun(XElement run) =>
        run.Elements(Ns + "task").Select(t => new TaskAssignment(
            Number(t, "id", long.MaxValue), 0,
            (int)Number(t, "index", int.MaxValue, 0),
            (int)Number(t, "attempt", int.MaxValue),
            t.Element(Ns + "cmd")?.Value ?? string.Empty,
            t.Elements(Ns + "arg").Select(a => a.Value).ToArray(),
            TimeSpan.FromMilliseconds(Number(t, "timeout-ms", int.MaxValue, 600000)))).ToList();

    public static XElement Results(IEnumerable<TaskResult> results) =>
        new(Ns + "results", results.Select(r => new XElement(Ns + "result",
            new XAttribute("id", r.TaskId), new XAttribute("attempt", r.Attempt), new XAttribute("exit", r.ExitCode),
            new XAttribute("timed-out", r.TimedOut ? "true" : "false"), r.Output)));

    /// <summary>
    /// Checks a worker's answer to one batch against what the batch held. A result counts only for a task of this batch
    /// and its attempt, once, with an exit code a process can have (0–255) and output no longer than
    /// <paramref name="maxOutputChars"/>; anything else is refused. An answer that cannot be read at all is malformed.
    /// </summary>
    public static BatchAnswer CheckResults(XElement iq, IReadOnlyList<TaskAssignment> batch, int maxOutputChars)
    {
        var results = iq.Element(Ns + "results");
        if (results is null)
        {
            return new BatchAnswer([], 0, "the answer carries no <results/>");
        }

        var expected = batch.ToDictionary(t => t.TaskId, t => t.Attempt);
        var answered = new HashSet<long>();
        var accepted = new List<TaskResult>();
        int refused = 0;
        foreach (var r in results.Elements(Ns + "result"))
        {
            if (!Integer(r, "id", out long id) || !Integer(r, "attempt", out long attempt) || !Integer(r, "exit", out long exit))
            {
                return new BatchAnswer([], 0, "a <result/> lacks a whole-number id, attempt or exit");
            }

            bool ours = expected.TryGetValue(id, out int dispatched) && dispatched == attempt;
            string output = r.Value;
            if (!ours || exit is < 0 or > 255 || output.Length > maxOutputChars || !answered.Add(id))
            {
                refused++;
                continue;
            }

            accepted.Add(new TaskResult(id, (int)attempt, (int)exit, output, r.Attribute("timed-out")?.Value == "true"));
        }

        return new BatchAnswer(accepted, refused, null);
    }

    private static bool Integer(XElement e, string name, out long value) =>
        long.TryParse(e.Attribute(name)?.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);

    /// <summary>A non-negative whole number from 0 to <paramref name="max"/>; <paramref name="fallback"/> when absent, if the attribute is optional.</summary>
    private static long Number(XElement element, string name, long max, long? fallback = null)
    {
        string? text = element.Attribute(name)?.Value;
        if (text is null && fallback is { } value)
        {
            return value;
        }

        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long n) && n <= max
            ? n
            : throw new FormatException($"<{element.Name.LocalName}> has '{name}' = '{text}'; expected a whole number from 0 to {max}.");
    }

    public static XElement CommandRequest(string to, string text) =>
        new(Client + "iq", new XAttribute("type", "set"), new XAttribute("to", to), new XElement(Ns + "command", text));
}

/// <summary>A worker's answer to one batch: the results taken, how many were refused, and why the answer was unreadable (null when it was read).</summary>
internal sealed record BatchAnswer(IReadOnlyList<TaskResult> Accepted, int Refused, string? Malformed);
