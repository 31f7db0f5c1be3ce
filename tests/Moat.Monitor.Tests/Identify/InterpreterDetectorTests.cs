using Moat.Monitor.Identify;

namespace Moat.Monitor.Tests.Identify;

public sealed class InterpreterDetectorTests
{
    [Theory]
    [InlineData("/bin/bash", "bash|run.sh", "/home/u", "bash", "/home/u/run.sh", false)]
    [InlineData("/bin/dash", "/bin/sh|-e|/tmp/x.sh|arg", "/", "dash", "/tmp/x.sh", false)]
    [InlineData("/bin/bash", "bash|-ec|echo hi", "/", "bash", null, true)]
    [InlineData("/bin/busybox", "sh|../tmp/a.sh", "/root", "sh", "/tmp/a.sh", false)]
    [InlineData("/usr/bin/python3.11", "python3|-u|-W|ignore|tool.py|--flag", "/srv", "python3.11", "/srv/tool.py", false)]
    [InlineData("/usr/bin/python3.11", "python3|-c|print(1)", "/", "python3.11", null, true)]
    [InlineData("/usr/bin/python3.11", "python3|-m|http.server", "/", "python3.11", null, true)]
    [InlineData("/usr/bin/perl", "perl|-w|/opt/a.pl", "/", "perl", "/opt/a.pl", false)]
    [InlineData("/usr/bin/node", "node|app.js", "/app", "node", "/app/app.js", false)]
    [InlineData("/usr/bin/php", "php|-r|echo 1;", "/", "php", null, true)]
    [InlineData("/usr/bin/java", "java|-Xmx1g|-jar|miner.jar", "/tmp", "java", "/tmp/miner.jar", false)]
    [InlineData("/bin/bash", "-bash", "/root", "bash", null, false)]
    public void Detect_Interpreters_NameTheirScript(string exe, string argv, string cwd, string interpreter, string? script, bool inline)
    {
        var target = InterpreterDetector.Detect(exe, argv.Split('|'), cwd);
        Assert.Equal(new InterpretedTarget(interpreter, script, inline), target);
    }

    [Theory]
    [InlineData("/bin/ls", "ls|-l")]
    [InlineData("/bin/busybox", "sleep|5")]
    [InlineData("/usr/bin/java", "java|-cp|x|Main")]
    public void Detect_NonInterpreters_ReturnNull(string exe, string argv) =>
        Assert.Null(InterpreterDetector.Detect(exe, argv.Split('|'), "/"));
}
