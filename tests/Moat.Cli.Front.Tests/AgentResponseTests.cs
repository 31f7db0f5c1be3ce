using System.Text;

namespace Moat.Cli.Front.Tests;

/// <summary>The front's reading of the agent's HTTP/1.1 answers.</summary>
public sealed class AgentResponseTests
{
    private static AgentResponse? Parse(string raw, out string? error) => AgentResponse.Parse(Encoding.ASCII.GetBytes(raw), out error);

    [Fact]
    public void A_sized_body_is_read_to_its_length()
    {
        var r = Parse("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]", out _)!;
        Assert.Equal((200, "[]"), (r.Status, Encoding.ASCII.GetString(r.Body)));
    }

    [Fact]
    public void A_chunked_body_is_joined_and_extensions_are_ignored()
    {
        var r = Parse("HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\n{\"det\r\na\r\nail\":\"no\"}\r\n0\r\n\r\n", out _)!;
        Assert.Equal((404, "{\"detail\":\"no\"}"), (r.Status, Encoding.ASCII.GetString(r.Body)));
    }

    [Fact]
    public void No_content_has_an_empty_body()
    {
        var r = Parse("HTTP/1.1 204 No Content\r\nServer: Kestrel\r\n\r\n", out _)!;
        Assert.Equal(204, r.Status);
        Assert.Empty(r.Body);
    }
}

/// <summary>Whatever the bytes on the agent's socket are, the front gets a response or one reason, never a crash, a hang
/// or a body longer than what was sent.</summary>
[Trait("Category", "Hostile")]
public sealed class AgentResponseHostileTests
{
    [Theory]
    [InlineData("", "end of headers")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", "end of headers")]
    [InlineData("SSH-2.0-OpenSSH\r\n\r\n", "HTTP/1.x")]
    [InlineData("HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.x")]
    [InlineData("HTTP/1.1 -20 OK\r\n\r\n", "HTTP/1.x")]
    [InlineData("HTTP/1.1 099 OK\r\n\r\n", "HTTP/1.x")]
    [InlineData("HTTP/1.1\r\n\r\n", "HTTP/1.x")]
    [InlineData("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "no name")]
    [InlineData("HTTP/1.1 200 OK\r\n: empty name\r\n\r\n", "no name")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "ended after 5 of its 10")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n", "Content-Length")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775807\r\n\r\nx", "ended after 1")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", "Content-Length")]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "not chunked")]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "no size line")]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "shorter than its size")]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n0\r\n\r\n", "shorter than its size")]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFF\r\nab\r\n", "hexadecimal")]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7FFFFFFF\r\nab\r\n", "shorter than its size")]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1FFFFFFFF\r\nab\r\n", "hexadecimal")]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nab\r\n", "hexadecimal")]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n", "hexadecimal")]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", "hexadecimal")]
    public void A_malformed_or_truncated_answer_is_refused_with_a_reason(string raw, string reason)
    {
        var r = AgentResponse.Parse(Encoding.ASCII.GetBytes(raw), out var error);
        Assert.Null(r);
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_body_longer_than_its_length_is_cut_at_the_length()
    {
        var r = AgentResponse.Parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]{\"smuggled\":1}"u8, out _)!;
        Assert.Equal("[]", Encoding.ASCII.GetString(r.Body));
    }
}
