using System.Runtime.ExceptionServices;
using System.Runtime.Versioning;

namespace Moat.Linux.Namespaces;

/// <summary>
/// Runs code inside a network namespace on a thread made for it. setns() moves only the calling thread,
/// so the work never runs on a pool thread: the thread ends with the work and its namespace dies with it.
/// </summary>
[SupportedOSPlatform("linux")]
public static class NamespaceRunner
{
    private const int StackSize = 256 * 1024;

    public static void Run(NetworkNamespace ns, Action action)
    {
        ArgumentNullException.ThrowIfNull(action);
        Run(ns, () =>
        {
            action();
            return true;
        });
    }

    public static T Run<T>(NetworkNamespace ns, Func<T> func)
    {
        ArgumentNullException.ThrowIfNull(ns);
        return OnFreshThread(() =>
        {
            Interop.Check(Interop.SetNs(ns.Handle, Interop.CLONE_NEWNET), $"setns into network namespace {ns.Path}");
            return func();
        });
    }

    /// <summary>Runs <paramref name="func"/> inside <paramref name="ns"/> without blocking the caller.</summary>
    /// <remarks>Cancellation stops the wait, not the work: a system call already made in the namespace completes.</remarks>
    public static Task<T> RunAsync<T>(NetworkNamespace ns, Func<T> func, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ns);
        ArgumentNullException.ThrowIfNull(func);
        cancellationToken.ThrowIfCancellationRequested();
        var completion = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(
            () =>
            {
                try
                {
                    Interop.Check(Interop.SetNs(ns.Handle, Interop.CLONE_NEWNET), $"setns into network namespace {ns.Path}");
                    completion.TrySetResult(func());
                }
                catch (Exception e)
                {
                    completion.TrySetException(e);
                }
            },
            StackSize)
        { IsBackground = true, Name = "moat-netns" };
        thread.Start();
        return completion.Task.WaitAsync(cancellationToken);
    }

    public static Task RunAsync(NetworkNamespace ns, Action action, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(action);
        return RunAsync(
            ns,
            () =>
            {
                action();
                return true;
            },
            cancellationToken);
    }

    /// <summary>Runs <paramref name="func"/> on a new thread that ends afterwards, whatever namespaces it entered.</summary>
    internal static T OnFreshThread<T>(Func<T> func)
    {
        T result = default!;
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(
            () =>
            {
                try
                {
                    result = func();
                }
                catch (Exception e)
                {
                    failure = ExceptionDispatchInfo.Capture(e);
                }
            },
            StackSize)
        { IsBackground = true, Name = "moat-netns" };
        thread.Start();
        thread.Join();
        failure?.Throw();
        return result;
    }
}
