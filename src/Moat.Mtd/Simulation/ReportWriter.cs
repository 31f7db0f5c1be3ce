using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Moat.Mtd.Simulation;

/// <summary>Renders a simulation report as Markdown tables or JSON.</summary>
public static class ReportWriter
{
    private static readonly JsonSerializerOptions s_json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>The report as indented JSON (camelCase).</summary>
    public static string ToJson(SimulationReport report) => JsonSerializer.Serialize(report, s_json);

    /// <summary>The report as three Markdown tables: Figure 4, Figure 5 and the per-strategy summary.</summary>
    public static string ToMarkdown(SimulationReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var c = CultureInfo.InvariantCulture;
        var o = report.Options;
        var sb = new StringBuilder();
        sb.AppendLine(c, $"Scenario: {o.Hosts} hosts × {o.SlotsPerHost} slots, {o.AttackerSandboxes} attacker sandboxes (aim β={o.AttackerAim}{(o.AdaptiveAttacker ? ", re-aimed after every move" : ", at the launch profile")}), attack {o.AttackHours} h (±50%), probe {o.ProbeHours} h, campaign {o.HorizonHours} h, {o.Trials} campaigns per point, seed {o.Seed}.");
        sb.AppendLine();
        AppendFigure(sb, "Figure 4", report.Figure4, c);
        sb.AppendLine();
        AppendFigure(sb, "Figure 5", report.Figure5, c);
        sb.AppendLine();
        sb.AppendLine(c, $"Summary ({o.AttackerSandboxes} attacker sandboxes)");
        sb.AppendLine();
        sb.AppendLine("| strategy | timing | campaigns resisted (%) | attacks resisted (%) | mean h to compromise | relocations/h (run) | relocations/h (nominal) | mean Δ per move | alerts/campaign |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var s in report.Summary)
        {
            var mean = s.MeanHoursToCompromise is { } m ? m.ToString("0.00", c) : "–";
            sb.AppendLine(c, $"| {s.Strategy} | {s.Timing} | {s.CampaignsResistedPercent:0.0} | {s.AttemptsResistedPercent:0.0} | {mean} | {s.RelocationsPerHour:0.000} | {s.NominalRelocationsPerHour:0.000} | {s.MeanDeltaPerMove:0.000} | {s.AlertsPerCampaign:0.00} |");
        }

        sb.AppendLine();
        sb.AppendLine(c, $"Cost: what each relocation rate buys (max-Δ destination, {o.AttackerSandboxes} attacker sandboxes)");
        sb.AppendLine();
        sb.AppendLine("| rate (/h) | strategy | timing | campaigns resisted (%) | attacks resisted (%) | relocations/h (run) | relocations/h (nominal) |");
        sb.AppendLine("|---:|---|---|---:|---:|---:|---:|");
        foreach (var p in report.Cost)
        {
            sb.AppendLine(c, $"| {p.RatePerHour:0.###} | {p.Summary.Strategy} | {p.Summary.Timing} | {p.Summary.CampaignsResistedPercent:0.0} | {p.Summary.AttemptsResistedPercent:0.0} | {p.Summary.RelocationsPerHour:0.000} | {p.Summary.NominalRelocationsPerHour:0.000} |");
        }

        return sb.ToString();
    }

    private static void AppendFigure(StringBuilder sb, string label, Figure f, CultureInfo c)
    {
        sb.AppendLine(c, $"{label}: {f.Title} — {f.YLabel}");
        sb.AppendLine();
        sb.Append(c, $"| {f.XLabel} |");
        foreach (var s in f.Series)
        {
            sb.Append(c, $" {s.Name} |");
        }

        sb.AppendLine();
        sb.Append("|---:|");
        foreach (var _ in f.Series)
        {
            sb.Append("---:|");
        }

        sb.AppendLine();
        for (var i = 0; i < f.X.Count; i++)
        {
            sb.Append(c, $"| {f.X[i]:0.##} |");
            foreach (var s in f.Series)
            {
                sb.Append(c, $" {s.Values[i]:0.0} |");
            }

            sb.AppendLine();
        }
    }
}
