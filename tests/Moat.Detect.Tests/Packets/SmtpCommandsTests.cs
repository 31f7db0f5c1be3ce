using System.Text;
using Moat.Detect.Packets;

namespace Moat.Detect.Tests.Packets;

public sealed class SmtpCommandsTests
{
    [Theory]
    [InlineData("RCPT TO:<a@x>\r\n", 1, 0)]
    [InlineData("MAIL FROM:<p@x>\r\nRCPT TO:<a@x>\r\nrcpt to:<b@x>\r\nRcpt To:<c@x>\r\nDATA\r\n", 3, 1)]
    [InlineData("BDAT 100 LAST\r\n", 0, 1)]
    [InlineData("BDAT 100\r\n", 0, 0)]
    [InlineData("data\r\n", 0, 1)]
    [InlineData("DATABASE\r\n", 0, 0)]
    [InlineData("X-RCPT TO: in a header\r\n", 0, 0)]
    [InlineData("RCPT TO:<cut", 1, 0)]
    [InlineData("", 0, 0)]
    public void Count_CountsCommandsAtLineStarts(string segment, int recipients, int messages)
    {
        Assert.Equal((recipients, messages), SmtpCommands.Count(Encoding.ASCII.GetBytes(segment)));
    }
}
