using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Moat.Host.Fabric;

namespace Moat.Control.Api;

/// <summary>Turns every failure into one problem document: the caller's bad input as one sentence, a host's refusal
/// with the host's sentence, anything else as a 500 whose detail stays in the log.</summary>
public static partial class ErrorMiddleware
{
    public static async Task InvokeAsync(HttpContext context, Func<Task> next, ILogger logger)
    {
        // A declared length over the limit is answered before anything reads the body (a chunked body over it fails
        // in the read, below).
        if (context.Request.ContentLength is { } length && length > MaxBody(context) && MaxBody(context) > 0)
        {
            await Problems.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, $"the request body is larger than the {MaxBody(context)} bytes this API takes.")
                .ConfigureAwait(false);
            return;
        }

        try
        {
            await next().ConfigureAwait(false);
        }
        catch (Exception e) when (!context.Response.HasStarted && e is not OperationCanceledException)
        {
            var (status, detail) = Map(context, e);
            if (status == StatusCodes.Status500InternalServerError)
            {
                LogFailed(logger, context.Request.Method, (context.GetEndpoint() as Microsoft.AspNetCore.Routing.RouteEndpoint)?.RoutePattern.RawText ?? "(no route)", e);
            }

            await Problems.WriteAsync(context, status, detail).ConfigureAwait(false);
        }
    }

    private static (int Status, string Detail) Map(HttpContext context, Exception e) => e switch
    {
        ControlInputException => (400, e.Message),
        ControlNotFoundException => (404, e.Message),
        ControlConflictException => (409, e.Message),
        ControlForbiddenException => (403, e.Message),
        ControlUnavailableException => (503, e.Message),
        BadHttpRequestException { StatusCode: 413 } => (413, $"the request body is larger than the {MaxBody(context)} bytes this API takes."),
        BadHttpRequestException { InnerException: JsonException j } => (400, BadJson(context, j)),
        BadHttpRequestException { StatusCode: 415 } => (415, "the request body must be JSON: send 'Content-Type: application/json'."),
        BadHttpRequestException b => (b.StatusCode, $"the request is not valid: {b.Message}"),
        JsonException j => (400, BadJson(context, j)),
        // Someone else's sandbox on the host is answered there as item-not-found; here it is the same as any missing one.
        FabricCallException { Condition: "item-not-found" } => (404, ControlService.NoSuchSandbox),
        FabricCallException { Condition: "bad-request" or "not-acceptable" } f => (400, f.Message),
        FabricCallException { Condition: "resource-constraint" } f => (503, f.Message),
        FabricCallException f => (502, $"the host did not do it: {f.Message}"),
        Moat.Xmpp.XmppException x => (502, $"the fabric did not carry the request: {x.Message}"),
        TimeoutException => (504, "the host did not answer in time; the request may still complete there."),
        _ => (500, "the control plane failed on this request; its log has the detail."),
    };

    private static string BadJson(HttpContext context, JsonException j) =>
        $"the request body is not valid JSON for {context.Request.Method} {Route(context)}{(j.Path is { Length: > 0 } p ? $" (at {Names.Show(p)})" : string.Empty)}: malformed JSON, unknown fields and wrong types are refused; /openapi/v1.json gives the shape.";

    private static string Route(HttpContext context) =>
        (context.GetEndpoint() as Microsoft.AspNetCore.Routing.RouteEndpoint)?.RoutePattern.RawText ?? "this path";

    private static long MaxBody(HttpContext context) =>
        context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize ?? 0;

    [LoggerMessage(EventId = 1500, Level = LogLevel.Error, Message = "{Method} {Route} failed; answered 500")]
    private static partial void LogFailed(ILogger logger, string method, string route, Exception exception);
}
