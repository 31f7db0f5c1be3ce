using System.Text.Json;
using System.Text.Json.Serialization;
using Moat.Fuzz.Engine;
using Moat.Host;
using Moat.Host.Api;
using Moat.Host.Fabric;
using Moat.Host.Sandboxes;

namespace Moat.Fuzz.Targets;

/// <summary>The host agent's local API bodies (and the same JSON carried on the fabric), bound and validated.</summary>
internal static class HostTargets
{
    // What HostAgent configures for its minimal API (web defaults and enums as strings).
    private static readonly JsonSerializerOptions Json = CreateJson();

    private static readonly string[] Bodies =
    [
        """{"image":"busybox","name":"web-1","command":["/bin/sh","-c","echo hi"],"env":{"A":"1"},"memoryBytes":268435456,"cpus":1.5,"pids":512,"client":"alice","volume":true,"tier":"gvisor","trust":"untrusted","clientAddress":"198.18.5.1"}""",
        """{"command":["ls","-l"],"env":{"PATH":"/bin"},"timeoutSeconds":30}""",
        """{"pem":"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n","proof":"AAAA","proofSignedAt":1764000000}""",
        """{"spec":{"image":"busybox"},"imageDigest":"sha256:00","tier":"container","sourceId":"abc"}""",
        """{"command":["sh"],"tty":true}""",
    ];

    public static FuzzTarget Api() => new()
    {
        Name = "host-json",
        Parser = "System.Text.Json binding of SandboxSpec, ExecRequest, AllowRequest, SandboxManifest, InteractiveRequest + SandboxSpec.Validate",
        MaxLength = 8 * 1024,
        Seeds = () => Bodies.Select((b, i) => (byte[])[(byte)i, .. SeedFiles.Utf8(b)]).ToList(),
        Dictionary = SeedFiles.Tokens("null", "true", "[]", "{}", "\"\"", "-1", "1e308", "NaN", "99999999999999999999", "\"\\u0000\"", ":", ",", "\"command\":", "\"env\":", "\"spec\":"),
        Expected = e => e is JsonException or MoatHostException,
        Run = input =>
        {
            if (input.Length == 0)
            {
                return;
            }

            var body = input.AsSpan(1);
            switch (input[0] % 5)
            {
                case 0:
                    JsonSerializer.Deserialize<SandboxSpec>(body, Json)?.Validate(16L << 30, 2);
                    break;
                case 1:
                    _ = JsonSerializer.Deserialize<ExecRequest>(body, Json);
                    _ = JsonSerializer.Deserialize<FabricProtocol.ExecBody>(body, Json);
                    break;
                case 2:
                    _ = JsonSerializer.Deserialize<AllowRequest>(body, Json);
                    break;
                case 3:
                    JsonSerializer.Deserialize<SandboxManifest>(body, Json)?.Spec?.Validate(16L << 30, 2);
                    break;
                default:
                    _ = JsonSerializer.Deserialize<InteractiveRequest>(body, Json);
                    break;
            }
        },
    };

    private static JsonSerializerOptions CreateJson()
    {
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        options.Converters.Add(new JsonStringEnumConverter());
        return options;
    }
}
