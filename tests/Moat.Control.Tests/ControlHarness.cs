using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Moat.Control.Api;
using Moat.Control.Hosts;

namespace Moat.Control.Tests;

/// <summary>
/// A real control plane (Kestrel on a free loopback port, SQLite store in its own folder) for one test, with every
/// log line it writes kept in <see cref="Logs"/>. Disposing stops it and removes the folder, even after a failure.
/// </summary>
internal sealed class ControlHarness : IAsyncDisposable
{
    private WebApplication? app;

    private ControlHarness(ControlOptions options, IHostFabric? fabric)
    {
        Options = options;
        Fabric = fabric;
    }

    public ControlOptions Options { get; private set; }

    /// <summary>The pretend fabric, or null: the real one the options describe (the control plane joins it itself).</summary>
    public IHostFabric? Fabric { get; }

    public ConcurrentQueue<string> Logs { get; } = new();

    public string AdminKey { get; private set; } = string.Empty;

    public Uri BaseAddress => new($"http://{Options.Listen}/");

    public static async Task<ControlHarness> StartAsync(IHostFabric? fabric = null, Func<ControlOptions, ControlOptions>? configure = null, string? stateDir = null)
    {
        var options0 = configure?.Invoke(new ControlOptions());
        var options = new ControlOptions
        {
            Listen = $"127.0.0.1:{FreePort()}",
            StateDir = stateDir ?? Directory.CreateTempSubdirectory("moat-control-").FullName,
        };
        var h = new ControlHarness(configure?.Invoke(options) ?? options, fabric ?? (options0?.Jid is null ? new FakeHostFabric().AddHost("host1@moat.test/agent") : null));
        try
        {
            await h.StartServiceAsync();
        }
        catch
        {
            await h.DisposeAsync();
            throw;
        }

        return h;
    }

    public async Task StartServiceAsync()
    {
        var started = await ControlServer.BuildAsync(Options, Fabric, new ListLoggerProvider(Logs));
        app = started.App;
        await app.StartAsync();
        AdminKey = (await File.ReadAllTextAsync(started.AdminKeyPath)).Trim();
    }

    public async Task StopServiceAsync()
    {
        if (app is not null)
        {
            await app.StopAsync();
            await app.DisposeAsync();
            app = null;
        }
    }

    public HttpClient Http(string? key = null)
    {
        var http = new HttpClient { BaseAddress = BaseAddress };
        if (key is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return http;
    }

    /// <summary>Adds a client with a key of its own; returns the key.</summary>
    public async Task<string> ClientKeyAsync(string client, string trust = "trusted")
    {
        using var admin = Http(AdminKey);
        var made = await admin.PostAsJsonAsync("/v1/clients", new { name = client, trust });
        Assert.True(made.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict, await made.Content.ReadAsStringAsync());
        var key = await admin.PostAsJsonAsync("/v1/keys", new { client });
        Assert.Equal(HttpStatusCode.Created, key.StatusCode);
        return (await key.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("key").GetString()!;
    }

    public static async Task<JsonElement> JsonAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"expected {expected}, got {(int)response.StatusCode}: {text}");
        return text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
    }

    public async ValueTask DisposeAsync()
    {
        await StopServiceAsync();
        if (Directory.Exists(Options.StateDir))
        {
            Directory.Delete(Options.StateDir, recursive: true);
        }
    }

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>Keeps every log line (message and exception) so tests can check what the service wrote.</summary>
    private sealed class ListLoggerProvider(ConcurrentQueue<string> lines) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new ListLogger(categoryName, lines);

        public void Dispose()
        {
        }

        private sealed class ListLogger(string category, ConcurrentQueue<string> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                lines.Enqueue($"{logLevel} {category} {formatter(state, exception)} {exception}");
        }
    }
}
