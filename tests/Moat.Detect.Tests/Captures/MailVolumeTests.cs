using Moat.Detect.Capture;
using Moat.Detect.Detectors;

namespace Moat.Detect.Tests.Captures;

/// <summary>
/// Mail by volume through one server, made with swaks (make-captures.sh): 40 messages of 10 recipients each raise a
/// mail-volume alert, one ordinary message does not; the counts come from the payload where it was captured, and the
/// connection count alone (what conntrack sees live) is enough.
/// </summary>
public sealed class MailVolumeTests
{
    private static readonly DetectorOptions Off = DetectorOptions.Default with
    {
        MailConnectionThreshold = int.MaxValue,
        MailByteThreshold = long.MaxValue,
        MailMessageThreshold = int.MaxValue,
        MailRecipientThreshold = int.MaxValue,
    };

    [Fact]
    public void MassMail_WithDefaults_RaisesMailVolume()
    {
        var result = CaptureReplay.Run(ToolCaptures.Read("swaks-mass-mail.pcap"), new DetectionEngine());

        var alert = Assert.Single(result.Alerts);
        Assert.Equal(AlertKinds.MailVolume, alert.Detector);
        Assert.Equal("198.18.70.1", alert.Source.ToString());
        Assert.Equal(25, alert.Port);
    }

    [Fact]
    public void OneOrdinaryMessage_WithDefaults_RaisesNothing()
    {
        var result = CaptureReplay.Run(ToolCaptures.Read("swaks-one-message.pcap"), new DetectionEngine());

        Assert.Empty(result.Alerts);
    }

    [Theory]
    [InlineData("messages", 40, true)]
    [InlineData("messages", 41, false)]
    [InlineData("recipients", 400, true)]
    [InlineData("recipients", 401, false)]
    [InlineData("connections", 40, true)]
    [InlineData("connections", 41, false)]
    public void MassMail_CountsExactlyWhatSwaksSent(string count, int threshold, bool alerts)
    {
        // swaks was run 40 times, each a connection with one message (DATA) to 10 recipients (RCPT TO).
        var options = count switch
        {
            "messages" => Off with { MailMessageThreshold = threshold },
            "recipients" => Off with { MailRecipientThreshold = threshold },
            _ => Off with { MailConnectionThreshold = threshold },
        };
        var result = CaptureReplay.Run(ToolCaptures.Read("swaks-mass-mail.pcap"), new DetectionEngine(options, [AlertKinds.MailVolume]));

        Assert.Equal(alerts, result.Alerts.Count == 1);
    }
}
