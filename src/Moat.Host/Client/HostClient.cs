using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization;
using Moat.Host.Api;
using Moat.Host.Pool;
using Moat.Host.Runtime;
using Moat.Host.Sandboxes;

namespace Moat.Host.Client;

/// <summary>Typed client of a host agent's local API over its Unix socket; used by the CLI, tests and benchmarks.</summary>
public sealed class HostClient : IDisposable
{
    public static readonly JsonSerializerOptions Json = CreateJson();
    private readonly HttpClient _http;
    private readonly string _socket;

    public HostClient(string socketPath)
    {
        _socket = socketPath;
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await s.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct).ConfigureAwait(false);
                }
                catch (SocketException e)
                {
                    s.Dispose();
                    throw new HostUnavailableException(socketPath, e);
                }

                return new NetworkStream(s, ownsSocket: true);
            },
        };
        _http = new HttpClient(handler) { BaseAddress = new Uri("http://moat-agent/"), Timeout = Timeout.InfiniteTimeSpan };
    }

    public Task<HostStatus> StatusAsync(CancellationToken ct = default) => Get<HostStatus>("v1/host", ct);

    public Task<List<Sandbox>> ListAsync(CancellationToken ct = default) => Get<List<Sandbox>>("v1/sandboxes", ct);

    public Task<SandboxDetails> InspectAsync(string reference, CancellationToken ct = default) => Get<SandboxDetails>($"v1/sandboxes/{Uri.EscapeDataString(reference)}", ct);

    public Task<Sandbox> CreateAsync(SandboxSpec spec, bool start = true, CancellationToken ct = default) =>
        Send<Sandbox>(HttpMethod.Post, $"v1/sandboxes?start={(start ? "true" : "false")}", spec, ct);

    public Task<ClaimResponse> ClaimAsync(SandboxSpec spec, CancellationToken ct = default) => Send<ClaimResponse>(HttpMethod.Post, "v1/sandboxes/claim", spec, ct);

    public Task<QuarantineResponse> QuarantineAsync(string reference, bool freeze, CancellationToken ct = default) =>
        Send<QuarantineResponse>(HttpMethod.Post, $"v1/sandboxes/{Uri.EscapeDataString(reference)}/quarantine?freeze={(freeze ? "true" : "false")}", null, ct);

    public Task<QuarantineResponse> LiftQuarantineAsync(string reference, CancellationToken ct = default) =>
        Send<QuarantineResponse>(HttpMethod.Delete, $"v1/sandboxes/{Uri.EscapeDataString(reference)}/quarantine", null, ct);

    public Task<Evidence.EvidenceReport> EvidenceAsync(string reference, string? directory, CancellationToken ct = default) =>
        Send<Evidence.EvidenceReport>(HttpMethod.Post, $"v1/sandboxes/{Uri.EscapeDataString(reference)}/evidence" + (directory is null ? "" : "?directory=" + Uri.EscapeDataString(directory)), null, ct);

    /// <summary>Presents an authcert for a sandbox with the proof, signed by <paramref name="userKey"/> (the private key the
    /// authcert was issued for), that the caller holds that key.</summary>
    public async Task<AllowResponse> AllowAsync(string reference, string pem, System.Security.Cryptography.AsymmetricAlgorithm userKey, CancellationToken ct = default)
    {
        var id = (await InspectAsync(reference, ct).ConfigureAwait(false)).Sandbox.Id;
        var proof = Moat.Pki.AuthCerts.PossessionProof.ForAuthCert(userKey, id, pem, DateTimeOffset.UtcNow);
        return await AllowAsync(id, new AllowRequest(pem, Convert.ToBase64String(proof.Signature), proof.SignedAt.ToUnixTimeSeconds()), ct).ConfigureAwait(false);
    }

    public Task<AllowResponse> AllowAsync(string reference, AllowRequest request, CancellationToken ct = default) =>
        Send<AllowResponse>(HttpMethod.Post, $"v1/sandboxes/{Uri.EscapeDataString(reference)}/allow", request, ct);

    public Task<EgressResponse> EgressAsync(string reference, EgressRequest request, CancellationToken ct = default) =>
        Send<EgressResponse>(HttpMethod.Post, $"v1/sandboxes/{Uri.EscapeDataString(reference)}/egress", request, ct);

    public Task<PolicyResponse> ReloadPolicyAsync(CancellationToken ct = default) =>
        Send<PolicyResponse>(HttpMethod.Post, "v1/policy/reload", null, ct);

    public Task<Sandbox> StartAsync(string r, CancellationToken ct = default) => Send<Sandbox>(HttpMethod.Post, $"v1/sandboxes/{Uri.EscapeDataString(r)}/start", null, ct);

    public Task<Sandbox> StopAsync(string r, double graceSeconds = 10, CancellationToken ct = default) =>
        Send<Sandbox>(HttpMethod.Post, $"v1/sandboxes/{Uri.EscapeDataString(r)}/stop?grace={graceSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}", null, ct);

    public Task<Sandbox> PauseAsync(string r, CancellationToken ct = default) => Send<Sandbox>(HttpMethod.Post, $"v1/sandboxes/{Uri.EscapeDataString(r)}/pause", null, ct);

    public Task<Sandbox> ResumeAsync(string r, CancellationToken ct = default) => Send<Sandbox>(HttpMethod.Post, $"v1/sandboxes/{Uri.EscapeDataString(r)}/resume", null, ct);

    public async Task DestroyAsync(string r, CancellationToken ct = default)
    {
        using var resp = await _http.DeleteAsync($"v1/sandboxes/{Uri.EscapeDataString(r)}", ct).ConfigureAwait(false);
        await EnsureAsync(resp, ct).ConfigureAwait(false);
    }

    public Task<ExecResult> ExecAsync(string r, IReadOnlyList<string> command, IReadOnlyDictionary<string, string>? env = null, double timeoutSeconds = 60, CancellationToken ct = default) =>
        Send<ExecResult>(HttpMethod.Post, $"v1/sandboxes/{Uri.EscapeDataString(r)}/exec", new ExecRequest(command, env, timeoutSeconds), ct);

    public Task<List<string>> InteractiveAsync(string r, IReadOnlyList<string> command, bool tty, CancellationToken ct = default) =>
        Send<List<string>>(HttpMethod.Post, $"v1/sandboxes/{Uri.EscapeDataString(r)}/interactive", new InteractiveRequest(command, tty), ct);

    public async Task<string> LogsAsync(string r, int tail = 65536, CancellationToken ct = default)
    {
        using var resp = await _http.GetAsync($"v1/sandboxes/{Uri.EscapeDataString(r)}/logs?tail={tail}", ct).ConfigureAwait(false);
        await EnsureAsync(resp, ct).ConfigureAwait(false);
        return await resp.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
    }

    public Task<List<PoolStatus>> PoolAsync(CancellationToken ct = default) => Get<List<PoolStatus>>("v1/pool", ct);

    public Task<List<PoolStatus>> FillPoolAsync(CancellationToken ct = default) => Send<List<PoolStatus>>(HttpMethod.Post, "v1/pool/fill", null, ct);

    /// <summary>Whether the host can checkpoint running sandboxes, per tier (`criu check` for containers, runsc for
    /// gVisor), with the reason when not.</summary>
    public Task<CheckpointSupport> CheckpointSupportAsync(CancellationToken ct = default) => Get<CheckpointSupport>("v1/checkpoint", ct);

    /// <summary>Saves a running (gvisor-tier) sandbox's whole state and stops it; its next start restores it.</summary>
    public Task<Sandbox> CheckpointAsync(string r, CancellationToken ct = default) =>
        Send<Sandbox>(HttpMethod.Post, $"v1/sandboxes/{Uri.EscapeDataString(r)}/checkpoint", null, ct);

    /// <summary>Makes a stopped copy of a sandbox from another host's manifest, ready to receive its state.</summary>
    public Task<Sandbox> ReserveAsync(SandboxManifest manifest, CancellationToken ct = default) => Send<Sandbox>(HttpMethod.Post, "v1/sandboxes/reserve", manifest, ct);

    /// <summary>Opens the tar stream of a stopped sandbox's upper layer and volume; the caller disposes the stream.</summary>
    /// <remarks>An export that fails half-way ends the stream with an <see cref="IOException"/>, never a clean end.</remarks>
    public async Task<Stream> ExportStateAsync(string r, CancellationToken ct = default)
    {
        var resp = await _http.GetAsync($"v1/sandboxes/{Uri.EscapeDataString(r)}/state", HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        try
        {
            await EnsureAsync(resp, ct).ConfigureAwait(false);
            return new ResponseStream(resp, await resp.Content.ReadAsStreamAsync(ct).ConfigureAwait(false));
        }
        catch
        {
            resp.Dispose();
            throw;
        }
    }

    /// <summary>Streams a state archive into a reserved sandbox and, by default, starts it.</summary>
    public async Task<ImportResult> ImportStateAsync(string r, Stream archive, bool start = true, CancellationToken ct = default)
    {
        using var req = new HttpRequestMessage(HttpMethod.Put, $"v1/sandboxes/{Uri.EscapeDataString(r)}/state?start={(start ? "true" : "false")}");
        req.Content = new StreamContent(archive, 128 * 1024);
        req.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/x-tar");
        using var resp = await _http.SendAsync(req, ct).ConfigureAwait(false);
        await EnsureAsync(resp, ct).ConfigureAwait(false);
        return (await resp.Content.ReadFromJsonAsync<ImportResult>(Json, ct).ConfigureAwait(false))!;
    }

    public Task<Watch.AlertsReport> AlertsAsync(string? sandbox = null, int limit = 1000, CancellationToken ct = default) =>
        Get<Watch.AlertsReport>(sandbox is null ? $"v1/alerts?limit={limit}" : $"v1/alerts?limit={limit}&sandbox={Uri.EscapeDataString(sandbox)}", ct);

    public Task<List<Watch.ResponseView>> ReleaseAsync(string r, string by, CancellationToken ct = default) =>
        Send<List<Watch.ResponseView>>(HttpMethod.Post, $"v1/sandboxes/{Uri.EscapeDataString(r)}/release?by={Uri.EscapeDataString(by)}", null, ct);

    public Task<Watch.WatchStatus> WatchStatusAsync(CancellationToken ct = default) => Get<Watch.WatchStatus>("v1/watch", ct);

    public void Dispose() => _http.Dispose();

    private async Task<T> Get<T>(string path, CancellationToken ct)
    {
        using var resp = await _http.GetAsync(path, ct).ConfigureAwait(false);
        await EnsureAsync(resp, ct).ConfigureAwait(false);
        return (await resp.Content.ReadFromJsonAsync<T>(Json, ct).ConfigureAwait(false))!;
    }

    private async Task<T> Send<T>(HttpMethod method, string path, object? body, CancellationToken ct)
    {
        using var req = new HttpRequestMessage(method, path);
        req.Content = body is null ? new StringContent("") : JsonContent.Create(body, body.GetType(), options: Json);
        using var resp = await _http.SendAsync(req, ct).ConfigureAwait(false);
        await EnsureAsync(resp, ct).ConfigureAwait(false);
        return (await resp.Content.ReadFromJsonAsync<T>(Json, ct).ConfigureAwait(false))!;
    }

    private static async Task EnsureAsync(HttpResponseMessage resp, CancellationToken ct)
    {
        if (resp.IsSuccessStatusCode)
        {
            return;
        }

        var text = await resp.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
        string message = text;
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (doc.RootElement.TryGetProperty("detail", out var d))
            {
                message = d.GetString() ?? text;
            }
        }
        catch (JsonException)
        {
            // Not a problem document: the body itself is the best message we have.
        }

        throw new HostApiException((int)resp.StatusCode, message);
    }

    private static JsonSerializerOptions CreateJson()
    {
        var o = new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true };
        o.Converters.Add(new JsonStringEnumConverter());
        return o;
    }
}

/// <summary>A response body that disposes its response with it.</summary>
internal sealed class ResponseStream(HttpResponseMessage response, Stream inner) : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
            response.Dispose();
        }

        base.Dispose(disposing);
    }
}

/// <summary>The agent answered with an error; the message is its one-sentence reason, the kind follows its status.</summary>
public sealed class HostApiException(int status, string message) : MoatException(KindOfStatus(status), message)
{
    public int Status { get; } = status;

    /// <summary>The kind of failure an HTTP status names (the inverse of <see cref="Api.ProblemStatus.Of"/>).</summary>
    public static ErrorKind KindOfStatus(int status) => status switch
    {
        400 or 413 or 415 or 422 => ErrorKind.Invalid,
        401 or 403 or 409 or 429 => ErrorKind.Refused,
        404 or 410 => ErrorKind.NotFound,
        502 or 503 or 504 => ErrorKind.Unavailable,
        _ => ErrorKind.Internal,
    };
}

/// <summary>No agent listens on the socket.</summary>
public sealed class HostUnavailableException(string socket, Exception inner)
    : MoatException(ErrorKind.Unavailable, $"no host agent is listening on {socket}; start one with 'moat host' (or pass --state-dir).", inner);
