using System.Security.Cryptography.X509Certificates;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Moat.Control.Api;
using Moat.Control.Auth;
using Moat.Control.Hosts;
using Moat.Control.Metrics;
using Moat.Control.Store;
using Prometheus;

namespace Moat.Control;

/// <summary>
/// `moat control`: the HTTP API over the fabric. <see cref="BuildAsync"/> opens the state folder and the store, makes
/// the administrator key at first start, joins the fabric and returns the service ready to run.
/// </summary>
public static partial class ControlServer
{
    /// <summary>What the built service is, for the caller to print: where it listens and where the administrator key is.</summary>
    public sealed record Started(WebApplication App, string AdminKeyPath, bool AdminKeyCreated);

    /// <param name="fabric">The road to the hosts; null: the one <paramref name="options"/> describes (none without --xmpp).</param>
    public static async Task<Started> BuildAsync(ControlOptions options, IHostFabric? fabric = null, ILoggerProvider? logs = null, TimeProvider? time = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        time ??= TimeProvider.System;
        Directory.CreateDirectory(options.StateDir);
        File.SetUnixFileMode(options.StateDir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var metrics = new ControlMetrics();
        var store = await SqliteControlStore.OpenAsync(options.StorePath, cancellationToken).ConfigureAwait(false);
        XmppHostFabric? ownFabric = null;
        try
        {
            var created = await EnsureAdminKeyAsync(store, options, time, cancellationToken).ConfigureAwait(false);
            if (fabric is null && options.Jid is not null)
            {
                ownFabric = await XmppHostFabric.OpenAsync(options, metrics, cancellationToken).ConfigureAwait(false);
            }

            fabric ??= (IHostFabric?)ownFabric ?? NoHostFabric.Instance;
            var app = Build(options, store, fabric, metrics, logs, time);
            if (ownFabric is not null)
            {
                var owned = ownFabric;
                app.Lifetime.ApplicationStopped.Register(() => owned.DisposeAsync().AsTask().GetAwaiter().GetResult());
            }

            app.Lifetime.ApplicationStopped.Register(() => store.DisposeAsync().AsTask().GetAwaiter().GetResult());
            return new Started(app, options.AdminKeyPath, created);
        }
        catch
        {
            if (ownFabric is not null)
            {
                await ownFabric.DisposeAsync().ConfigureAwait(false);
            }

            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>At first start (no key at all in the store): the admin client and an administrator key, written 0600
    /// into the 0700 state folder; the key itself goes nowhere else (no log, no argv).</summary>
    private static async Task<bool> EnsureAdminKeyAsync(IControlStore store, ControlOptions options, TimeProvider time, CancellationToken cancellationToken)
    {
        if ((await store.ListKeysAsync(cancellationToken).ConfigureAwait(false)).Count > 0)
        {
            return false;
        }

        await store.AddClientAsync(new ClientRecord("admin", "trusted", time.GetUtcNow()), cancellationToken).ConfigureAwait(false);
        var (key, record) = ApiKeys.Create("admin", KeyScope.Admin, time.GetUtcNow(), null);
        var partial = options.AdminKeyPath + ".new";
        await using (var file = new FileStream(partial, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        {
            File.SetUnixFileMode(partial, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            await file.WriteAsync(System.Text.Encoding.UTF8.GetBytes(key + "\n"), cancellationToken).ConfigureAwait(false);
            file.Flush(flushToDisk: true);
        }

        // The file is in place before the key is stored: a crash between the two leaves a key file that does not work
        // (and the next start makes a new one), never a working key nobody holds.
        File.Move(partial, options.AdminKeyPath, overwrite: true);
        await store.AddKeyAsync(record, cancellationToken).ConfigureAwait(false);
        return true;
    }

    private static WebApplication Build(ControlOptions options, IControlStore store, IHostFabric fabric, ControlMetrics metrics, ILoggerProvider? logs, TimeProvider time)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        if (logs is not null)
        {
            builder.Logging.AddProvider(logs);
        }
        else
        {
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
            });
            builder.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        }

        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        var endpoint = options.Endpoint();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            k.Limits.MaxRequestHeadersTotalSize = 16 * 1024;
            k.Limits.MaxRequestHeaderCount = 64;
            k.Limits.MaxRequestLineSize = 8 * 1024;
            k.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(10);
            k.Listen(endpoint, listen =>
            {
                if (options.UsesTls)
                {
                    listen.UseHttps(X509Certificate2.CreateFromPemFile(options.TlsCert!, options.TlsKey!));
                }
            });
        });
        builder.Services.ConfigureHttpJsonOptions(o => ControlJson.Configure(o.SerializerOptions));
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(time);
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton(fabric);
        builder.Services.AddSingleton(metrics);
        builder.Services.AddSingleton(sp => new ControlService(store, fabric, metrics, time));
        builder.Services.AddOpenApi("v1", o => o.AddDocumentTransformer((document, _, _) =>
        {
            // The document is the same wherever the service listens, so the committed copy can be compared byte for byte.
            document.Servers?.Clear();
            document.Info.Title = "Moat control plane";
            document.Info.Version = "v1";
            document.Info.Description = "Hosts, sandboxes, clients, keys and audit, over the XMPP fabric. Send 'Authorization: Bearer moat_…' to everything under /v1/.";
            return Task.CompletedTask;
        }));
        builder.Services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.OnRejected = async (context, ct) =>
            {
                var byKey = KeyAuthentication.TryCallerOf(context.HttpContext) is not null;
                metrics.RateLimited.WithLabels(byKey ? "key" : "address").Inc();
                context.HttpContext.Response.Headers.RetryAfter = byKey ? "1" : "60";
                await Problems.WriteAsync(context.HttpContext, StatusCodes.Status429TooManyRequests, byKey
                    ? $"this key made more than {options.RequestsPerSecondPerKey} requests in a second: slow down and retry after a second."
                    : $"this address sent more than {options.FailedAuthPerMinute} requests without a valid key in a minute: retry after a minute with a valid key.").ConfigureAwait(false);
            };
            o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(c =>
            {
                if (!KeyAuthentication.IsApi(c))
                {
                    return RateLimitPartition.GetNoLimiter("open");
                }

                if (KeyAuthentication.TryCallerOf(c) is { } caller)
                {
                    return RateLimitPartition.GetTokenBucketLimiter("key:" + caller.KeyId, _ => new TokenBucketRateLimiterOptions
                    {
                        TokenLimit = options.RequestsPerSecondPerKey,
                        TokensPerPeriod = options.RequestsPerSecondPerKey,
                        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                        QueueLimit = 0,
                        AutoReplenishment = true,
                    });
                }

                return RateLimitPartition.GetFixedWindowLimiter("addr:" + c.Connection.RemoteIpAddress, _ => new FixedWindowRateLimiterOptions
                {
                    PermitLimit = options.FailedAuthPerMinute,
                    Window = TimeSpan.FromMinutes(1),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                });
            });
        });

        var app = builder.Build();
        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Moat.Control");
        var service = app.Services.GetRequiredService<ControlService>();
        app.Use((c, next) => ErrorMiddleware.InvokeAsync(c, () => next(c), log));
        app.Use((c, next) => CountAsync(c, () => next(c), metrics));
        app.UseRouting();
        app.Use((c, next) => KeyAuthentication.IdentifyAsync(c, () => next(c), service, metrics));
        app.UseRateLimiter();
        app.Use((c, next) => KeyAuthentication.RequireAsync(c, () => next(c)));
        app.Use((c, next) => AuditMiddleware.InvokeAsync(c, () => next(c), store, metrics, time));
        // Again inside the audit, so that a refused call is recorded with the status and sentence it was answered with.
        app.Use((c, next) => ErrorMiddleware.InvokeAsync(c, () => next(c), log));

        app.MapGet("/healthz", () => TypedResults.Text("ok\n")).ExcludeFromDescription();
        app.MapMetrics("/metrics", metrics.Registry);
        app.MapOpenApi("/openapi/{documentName}.json");
        app.MapControlApi();
        RegisterGauges(metrics, store, fabric);
        app.Lifetime.ApplicationStarted.Register(() => LogListening(log, options.UsesTls ? "https" : "http", options.Listen, options.AdminKeyPath));
        return app;
    }

    private static async Task CountAsync(HttpContext context, Func<Task> next, ControlMetrics metrics)
    {
        try
        {
            await next().ConfigureAwait(false);
        }
        finally
        {
            var route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "(no route)";
            var method = context.Request.Method is "GET" or "POST" or "PUT" or "DELETE" or "HEAD" ? context.Request.Method : "other";
            metrics.Requests.WithLabels(route, method, context.Response.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture)).Inc();
        }
    }

    /// <summary>Gauges read when scraped: sandboxes by tier, state and trust from the store; hosts from their presence.</summary>
    private static void RegisterGauges(ControlMetrics metrics, IControlStore store, IHostFabric fabric)
    {
        var seenSandboxes = new HashSet<(string, string, string)>();
        var seenHosts = new HashSet<string>();
        metrics.Registry.AddBeforeCollectCallback(async ct =>
        {
            var counts = (await store.ListSandboxesAsync(null, ct).ConfigureAwait(false))
                .GroupBy(s => (s.Tier ?? "unknown", s.State, s.Trust)).ToDictionary(g => g.Key, g => g.Count());
            lock (seenSandboxes)
            {
                seenSandboxes.UnionWith(counts.Keys);
                foreach (var key in seenSandboxes)
                {
                    metrics.Sandboxes.WithLabels(key.Item1, key.Item2, key.Item3).Set(counts.GetValueOrDefault(key));
                }
            }

            var hosts = fabric.Hosts.ToList();
            metrics.HostsOnline.Set(hosts.Count);
            lock (seenHosts)
            {
                foreach (var gone in seenHosts.Where(j => !hosts.Any(h => h.Jid == j)).ToList())
                {
                    metrics.HostPoolReady.RemoveLabelled(gone);
                    metrics.HostPoolTarget.RemoveLabelled(gone);
                    metrics.HostFreeMemory.RemoveLabelled(gone);
                    seenHosts.Remove(gone);
                }

                foreach (var h in hosts)
                {
                    seenHosts.Add(h.Jid);
                    metrics.HostPoolReady.WithLabels(h.Jid).Set(h.PoolReady);
                    metrics.HostPoolTarget.WithLabels(h.Jid).Set(h.PoolTarget);
                    metrics.HostFreeMemory.WithLabels(h.Jid).Set(h.FreeMemoryMb * 1024.0 * 1024.0);
                }
            }
        });
    }

    [LoggerMessage(EventId = 1501, Level = LogLevel.Information, Message = "Control plane listening on {Scheme}://{Listen}; the administrator key is in {AdminKeyPath}")]
    private static partial void LogListening(ILogger logger, string scheme, string listen, string adminKeyPath);
}
